// Package lease describes coordination.k8s.io/v1 Leases to the generic store.
// Leases back leader election and node heartbeats; as in Kubernetes a PUT may
// create one, and `kubectl get lease` shows the holder.
package lease
