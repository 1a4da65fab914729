// Package replicaset is berth's ReplicaSet controller, the counterpart of
// Kubernetes' pkg/controller/replicaset. For every ReplicaSet it keeps
// spec.replicas active pods matching the selector: it adopts matching
// orphans and releases pods that stop matching (controller owner
// references), creates missing pods from the template in slow-start
// batches, deletes surplus pods in the order Kubernetes prefers
// (unscheduled, pending, not ready, cheaper, doubled-up, recently ready,
// restarting, newer first), and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas, observedGeneration and the
// ReplicaFailure condition. Expectations keep it from creating or deleting
// twice for the same shortfall while its informers catch up with its own
// writes. Events (SuccessfulCreate, FailedCreate, SuccessfulDelete,
// FailedDelete) are worded as Kubernetes words them.
package replicaset
