// Package defaultpreemption is the DefaultPreemption plugin: when a pod
// fits nowhere, it looks (on the nodes that rejected the pod for a reason
// eviction can fix) for the fewest lower-priority pods to evict, honouring
// preemptionPolicy Never and, as far as possible, PodDisruptionBudgets;
// it picks a node as Kubernetes does, marks the victims with the
// DisruptionTarget condition (reason PreemptionByScheduler), deletes them,
// and nominates the pod to the node (status.nominatedNodeName).
package defaultpreemption
