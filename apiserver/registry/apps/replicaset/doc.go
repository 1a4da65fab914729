// Package replicaset describes the apps/v1 ReplicaSet resource to the
// generic store: the one-replica default, validation, the create/update
// strategy (status reset, generation bumps on spec changes, an immutable
// selector), the status and scale subresources, the status.replicas field
// selector and the `kubectl get replicasets` table.
package replicaset
