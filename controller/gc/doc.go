// Package gc is berth's garbage collector, as Kubernetes' garbage collector
// controller: it watches the metadata of every listable, watchable and
// deletable resource the API server serves (found through discovery, read
// again periodically so resources added at run time are followed), keeps a
// graph of ownerReferences, and
//
//   - deletes dependents whose owners are all gone (background propagation:
//     the API server removes the owner at once, the collector its dependents
//     after);
//   - for an owner being deleted with the foregroundDeletion finalizer,
//     deletes its dependents (those with blockOwnerDeletion must be gone
//     first) and then removes the finalizer so the owner goes;
//   - for an owner being deleted with the orphan finalizer, removes the
//     ownerReferences to it from its dependents, then the finalizer.
//
// An owner is identified by uid: a dependent whose owner exists under the
// same name with another uid is garbage. Before deleting anything the
// collector reads the object and its owners live from the API server, so
// an owner that merely has not reached the informers yet never gets its
// dependents deleted. References that cannot be valid (a namespaced owner
// in another namespace, or a namespaced owner of a cluster-scoped object)
// are reported with OwnerRefInvalidNamespace events and treated as absent.
package gc
