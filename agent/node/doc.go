// Package node is the node agent's voice to the control plane about its
// own machine, as the kubelet's node status manager and node lease
// controller are: it registers the Node (or takes over the one an earlier
// run left), keeps a Lease in kube-node-lease renewed as the heartbeat,
// and posts the node's status — capacity and allocatable measured on the
// host, the Ready and pressure conditions, system info, addresses, the
// agent's port and the images present — whenever it changes, and at
// least every report interval. It reads the container runtime only
// through CRI (Version, Status, ListImages) and the host through /proc,
// /sys, /etc and statfs.
package node
