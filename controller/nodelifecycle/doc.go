// Package nodelifecycle is berth's node-lifecycle-controller, as in
// kube-controller-manager: it watches each node's heartbeats (its Lease in
// kube-node-lease and its Ready condition) and, when they stop for the
// grace period, sets the node's conditions to Unknown ("Kubelet stopped
// posting node status."), marks its pods not ready and taints the node
// node.kubernetes.io/unreachable (or not-ready when the node reports
// Ready=False) with NoExecute — rate-limited per zone, and not at all when
// every zone is down — so that the taint-eviction controller (package
// tainteviction) evicts its pods. It also keeps the NoSchedule taints that
// mirror node conditions and spec.unschedulable, and the beta os/arch
// labels.
package nodelifecycle
