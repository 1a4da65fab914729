// Package namespace is berth's namespace controller, as Kubernetes' (its
// namespaced-resources deleter): a namespace marked for deletion (the API
// server sets deletionTimestamp and phase Terminating and keeps the
// "kubernetes" finalizer in spec.finalizers) gets everything in it deleted
// — pods first, then every other namespaced resource discovery lists — its
// status conditions kept up to date (NamespaceDeletionDiscoveryFailure,
// NamespaceDeletionGroupVersionParsingFailure,
// NamespaceDeletionContentFailure, NamespaceContentRemaining,
// NamespaceFinalizersRemaining), and, once it is empty, the "kubernetes"
// finalizer removed through the namespaces/{name}/finalize subresource,
// after which the API server deletes the namespace. Content that is slow
// to go (pods in their grace period, objects with finalizers) is waited for
// with Kubernetes' estimates and back-off.
package namespace
