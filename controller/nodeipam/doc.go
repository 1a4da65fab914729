// Package nodeipam is berth's node IPAM controller, as Kubernetes' range
// allocator ("node-ipam-controller" with --allocate-node-cidrs): it cuts
// the cluster CIDR (default 10.42.0.0/16) into node ranges of
// NodeCIDRMaskSize bits (default /24) and gives every Node without
// spec.podCIDR the next free one, written to spec.podCIDR and
// spec.podCIDRs with a strategic merge patch. The agents build their pod
// networks (CNI bridge, routes to the other nodes) from it.
//
// A Node that already has a pod CIDR (an agent started with --pod-cidr)
// keeps it and its range is marked used; one outside the cluster CIDR is
// kept too, takes nothing from it and is logged once. A Node's range is
// released when the Node is deleted (or marked for deletion). When the
// controller starts — after a restart, or on a new leader — the ranges of
// all Nodes are marked used before any is handed out, so nothing is given
// twice. Allocation goes round the range, as Kubernetes', so a released
// range is not handed out again at once.
//
// A range picked for a node is held until the Node shows it; when the
// patch fails without a clear answer it is retried with the same range,
// and only a refusal by the API server (the Node got a pod CIDR
// meanwhile, say) frees it. A full cluster CIDR records the Node event
// CIDRNotAvailable (a refused patch CIDRAssignmentFailed), as Kubernetes'
// "cidrAllocator" does; the node gets a range as soon as one is released.
package nodeipam
