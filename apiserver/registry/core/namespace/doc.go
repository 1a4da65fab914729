// Package namespace describes the core/v1 Namespace resource to the generic
// store: the Active phase and the "kubernetes" finalizer set on create, the
// kubernetes.io/metadata.name label, finalizer name rules, the status
// subresource and the NAME STATUS AGE table.
//
// Deleting a namespace is a two-step lifecycle in Kubernetes: DELETE marks
// it Terminating (deletionTimestamp set, status.phase Terminating) while
// spec.finalizers is non-empty, the namespace controller empties it and then
// removes "kubernetes" through the finalize subresource, and only then is
// the object removed. The generic store drives that lifecycle with the
// PrepareForDelete and Finalizing hooks set here; this package serves the
// finalize subresource.
package namespace
