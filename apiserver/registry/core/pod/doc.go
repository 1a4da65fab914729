// Package pod describes the core/v1 pods resource to the generic store:
// defaulting, the rules of pod creation and of the few updates Kubernetes
// allows to a pod spec, the status subresource, the table `kubectl get pods`
// prints, field selectors and graceful deletion, all as in Kubernetes 1.33
// (pkg/registry/core/pod and pkg/printers/internalversion).
//
// The pod spec rules shared with workload templates live in
// apiserver/validation and apiserver/defaults; this package adds what is
// specific to pod objects. The binding, eviction, log, exec, attach,
// port-forward, ephemeralcontainers and resize subresources are served
// elsewhere.
package pod
