// Package dnsendpoints keeps the endpoints of the cluster DNS Service,
// kube-system/kube-dns. berth runs no DNS pods: every node agent serves
// cluster DNS itself on the first address of its pod CIDR (its bridge
// gateway, 10.42.1.1 for 10.42.1.0/24), port 53. The server creates
// kube-dns at start without a selector (so the endpoints and EndpointSlice
// controllers leave it alone) with the ClusterIP of --cluster-dns, and this
// controller points it at the nodes: for every Node with a pod CIDR, an
// endpoint at that address with nodeName set, ready while the Node is
// Ready, and the ports dns 53/UDP and dns-tcp 53/TCP.
//
// It keeps both EndpointSlices (labels kubernetes.io/service-name=kube-dns
// and endpointslice.kubernetes.io/managed-by=berth-dns, owned by the
// Service, at most 100 endpoints each, named kube-dns, kube-dns-1, ...)
// — what the service proxy reads — and the kube-dns Endpoints (labelled
// endpointslice.kubernetes.io/skip-mirror), which `kubectl get endpoints`
// shows. If a user gives kube-dns a selector (DNS pods of their own), the
// controller deletes its slices and leaves the endpoints to the endpoint
// controllers; without the Service it keeps no slices.
package dnsendpoints
