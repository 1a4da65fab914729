// Package etcd keeps API objects in etcd v3: one key per object, the etcd
// revision as resourceVersion, compare-and-swap transactions for optimistic
// concurrency, leases for objects with a time to live, and paged lists with
// Kubernetes-style continue tokens.
package etcd
