// Package priorityclass describes cluster-scoped scheduling.k8s.io/v1
// PriorityClasses to the generic store: the preemptionPolicy default, the
// reserved "system-" names, the immutable value and policy, and the
// `kubectl get priorityclass` columns.
package priorityclass
