// Package node describes the core/v1 Node resource to the generic store.
// Nodes are created by node agents with their status already filled in, so
// create keeps status; updates of the main resource keep status and the
// status subresource keeps spec. It checks taints, podCIDRs (immutable once
// set), providerID (immutable once set) and resource quantities, offers the
// spec.unschedulable field selector, and renders the table of
// `kubectl get nodes`.
package node
