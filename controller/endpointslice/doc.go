// Package endpointslice is berth's endpointslice-controller, as in
// kube-controller-manager: for every Service with a selector it keeps
// EndpointSlices (labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io,
// owned by the Service) holding its pods' endpoints with their
// ready/serving/terminating conditions, node, zone and target, at most
// MaxEndpointsPerSlice per slice, one group of slices per set of resolved
// ports and per address type. Slices are updated in place, filled before
// new ones are made, and a Service with no endpoints keeps one empty
// placeholder slice. Slices of deleted Services go with the garbage
// collector, through their owner reference.
package endpointslice
