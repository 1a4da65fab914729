// Package event describes events.k8s.io/v1 Events to the generic store.
// As in Kubernetes they are the same stored objects as core/v1 events: this
// package converts between the two shapes, applies the strict validation
// Kubernetes applies to writes through events.k8s.io, and prints the same
// columns as `kubectl get events`.
package event
