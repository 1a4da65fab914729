// Package service describes the core/v1 Service resource to the generic
// store: Kubernetes' defaults (type, session affinity, port protocol and
// targetPort, traffic policies, IP families), validation with Kubernetes'
// field paths, the update rules (allocated values kept, clusterIPs
// immutable, type-dependent fields dropped), the status subresource and the
// table `kubectl get services` prints.
//
// Allocating cluster IPs and node ports is not done here: an allocator hooks
// into the Resource's BeginCreate/BeginUpdate, and can use NeedsClusterIP,
// NeedsNodePorts and NeedsHealthCheckNodePort to know what a Service needs.
package service
