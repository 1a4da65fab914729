// Package network sets up the node's pod network.
//
// Inside a node, containerd gives every pod sandbox an interface on the
// node's bridge and an address from the node's pod CIDR through the CNI
// configuration WriteConflist writes (bridge + host-local + portmap from
// Debian's containernetworking-plugins).
//
// Across nodes, Routes makes every other node's pod CIDR reachable: by a
// plain route through the peer's node IP when the peer shares a link with
// this node (host-gw), or else through a VXLAN device of the agent's own,
// as flannel's vxlan backend does. Pod-to-pod traffic keeps its source
// address either way.
//
// Masquerade replaces the bridge plugin's iptables ipMasq: an nftables
// table of the agent's own rewrites the source of pod traffic leaving the
// cluster CIDR to the node's address, and of nothing else.
package network
