// Package sim simulates Kubernetes nodes without containers, as kwok does:
// it registers Node objects the way a kubelet registers itself, keeps their
// Leases in kube-node-lease renewed, posts node status heartbeats, and acts
// as the kubelet of every pod bound to its nodes: pods become Running and
// Ready with fake pod IPs, pods of Jobs finish after a while, and deleted
// pods are removed once their (simulated) containers have stopped.
//
// It exists to exercise the control plane (scheduler, controllers, node
// failure handling) and to measure it at scale, with thousands of nodes and
// pods on one machine. It only talks to the API server; it never runs
// anything, and it is no substitute for the real node agent.
package sim
