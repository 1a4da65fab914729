// Package endpointutil holds what the endpoints and endpointslice
// controllers share, as Kubernetes' k8s.io/endpointslice/util: which pods
// belong in a Service's endpoints, how a Service port maps to a pod's
// port, which Services a pod change concerns, and the
// endpoints.kubernetes.io/last-change-trigger-time tracker.
package endpointutil
