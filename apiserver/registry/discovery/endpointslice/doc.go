// Package endpointslice describes discovery.k8s.io/v1 EndpointSlices to the
// generic store: port defaults, Kubernetes' validation of the address type,
// endpoints, hints and ports, and the `kubectl get endpointslices` columns.
package endpointslice
