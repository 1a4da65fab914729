package network

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Annotations a node's Routes publishes on its own Node for its peers.
const (
	// VXLANMACAnnotation is the MAC address of the node's VXLAN device.
	VXLANMACAnnotation = "berth.dev/vxlan-mac"
	// VXLANIPAnnotation is the underlay address peers send the node's
	// VXLAN packets to (its NodeIP); without it, peers use the Node's
	// InternalIP.
	VXLANIPAnnotation = "berth.dev/vxlan-ip"
)

// reach is how this host reaches a peer's node address.
type reach int

const (
	// reachDirect: the peer is on a link of this host (no gateway).
	reachDirect reach = iota
	// reachGateway: the peer is behind a router.
	reachGateway
	// reachLocal: the address is this host's own (an agent sharing it).
	reachLocal
)

func (r reach) String() string {
	switch r {
	case reachDirect:
		return "direct"
	case reachGateway:
		return "gateway"
	case reachLocal:
		return "local"
	}
	return fmt.Sprintf("reach(%d)", int(r))
}

// route is a route to a peer's pod CIDR: through the peer's node address
// (host-gw), or through the VXLAN device to the peer's VTEP address (the
// pod CIDR's network address), onlink.
type route struct {
	Dst   netip.Prefix
	Via   netip.Addr
	VXLAN bool
}

func (r route) String() string {
	if r.VXLAN {
		return fmt.Sprintf("%s via %s (vxlan)", r.Dst, r.Via)
	}
	return fmt.Sprintf("%s via %s", r.Dst, r.Via)
}

// neighbour is a permanent neighbour entry on the VXLAN device: a peer's
// VTEP address and its device's MAC.
type neighbour struct {
	IP  netip.Addr
	MAC string
}

// fdbEntry is a forwarding entry of the VXLAN device: frames for MAC go
// to the node address Dst.
type fdbEntry struct {
	MAC string
	Dst netip.Addr
}

// peer is what the routes need to know of another Node.
type peer struct {
	Name    string
	PodCIDR netip.Prefix
	// IP is the Node's InternalIP, the host-gw gateway.
	IP netip.Addr
	// VTEP is where its VXLAN packets go: the vxlan-ip annotation, or IP.
	VTEP netip.Addr
	// MAC is its VXLAN device's, "" until published.
	MAC string
}

// plan is the kernel state Routes wants.
type plan struct {
	// Device is whether the VXLAN device should exist.
	Device bool
	// Local is the device's underlay address (this node's IP).
	Local netip.Addr
	// DeviceAddr is the device's address: this node's pod CIDR's network
	// address as a /32; invalid while the pod CIDR is unknown.
	DeviceAddr netip.Prefix
	Routes     []route
	Neighbours []neighbour
	FDB        []fdbEntry
	// Skipped tells, per node, why it gets no route.
	Skipped map[string]string
}

// planner computes a plan from the Nodes.
type planner struct {
	self    string
	nodeIP  netip.Addr // configured; invalid: the own Node's InternalIP
	cluster netip.Prefix
	mode    Mode
}

// plan returns what the kernel should hold for nodes (every Node,
// including this one); probe tells how this host reaches an address.
func (p *planner) plan(nodes []*corev1.Node, probe func(netip.Addr) (reach, error)) plan {
	out := plan{Skipped: map[string]string{}}
	local := p.nodeIP
	var ownCIDR netip.Prefix
	for _, n := range nodes {
		if n.Name != p.self {
			continue
		}
		ownCIDR, _ = podCIDR(n)
		if !local.IsValid() {
			local = internalIP(n, p.cluster.Addr().Is4())
		}
	}
	out.Local = local
	if ownCIDR.IsValid() && ownCIDR.Addr().Is4() == p.cluster.Addr().Is4() {
		out.DeviceAddr = netip.PrefixFrom(ownCIDR.Addr(), ownCIDR.Addr().BitLen())
	}
	out.Device = p.mode == ModeVXLAN && local.IsValid()

	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range sorted {
		if n.Name == p.self || n.DeletionTimestamp != nil {
			continue
		}
		pr, reason := p.peer(n, ownCIDR)
		if reason != "" {
			out.Skipped[n.Name] = reason
			continue
		}
		how := reachGateway
		if pr.IP == local {
			how = reachLocal
		} else if p.mode != ModeVXLAN {
			r, err := probe(pr.IP)
			if err != nil {
				out.Skipped[n.Name] = fmt.Sprintf("no route to node address %s: %v", pr.IP, err)
				continue
			}
			how = r
		}
		switch {
		case how == reachLocal:
			// An agent on this host: its bridge already routes its pods.
			out.Skipped[n.Name] = "node address " + pr.IP.String() + " is this host's"
		case p.mode == ModeHostGW || (p.mode == ModeAuto && how == reachDirect):
			if how != reachDirect {
				out.Skipped[n.Name] = "host-gw: node address " + pr.IP.String() + " is not on a link of this host"
				continue
			}
			out.Routes = append(out.Routes, route{Dst: pr.PodCIDR, Via: pr.IP})
		default:
			if !local.IsValid() {
				out.Skipped[n.Name] = "vxlan: this node has no address yet"
				continue
			}
			// The device is wanted as soon as a peer needs it, so that
			// the peer can reach this node as well.
			out.Device = true
			if pr.MAC == "" {
				out.Skipped[n.Name] = "vxlan: no " + VXLANMACAnnotation + " annotation yet"
				continue
			}
			if pr.VTEP == local {
				out.Skipped[n.Name] = "vxlan: VTEP address " + pr.VTEP.String() + " is this host's"
				continue
			}
			gw := pr.PodCIDR.Addr()
			out.FDB = append(out.FDB, fdbEntry{MAC: pr.MAC, Dst: pr.VTEP})
			out.Neighbours = append(out.Neighbours, neighbour{IP: gw, MAC: pr.MAC})
			out.Routes = append(out.Routes, route{Dst: pr.PodCIDR, Via: gw, VXLAN: true})
		}
	}
	return out
}

// peer reads what the routes need of Node n; reason is why it gets none.
func (p *planner) peer(n *corev1.Node, ownCIDR netip.Prefix) (peer, string) {
	cidr, err := podCIDR(n)
	if err != nil {
		return peer{}, err.Error()
	}
	if !cidr.IsValid() {
		return peer{}, "no pod CIDR"
	}
	if !p.cluster.Contains(cidr.Addr()) || cidr.Bits() < p.cluster.Bits() {
		return peer{}, fmt.Sprintf("pod CIDR %s is outside the cluster CIDR %s", cidr, p.cluster)
	}
	if ownCIDR.IsValid() && ownCIDR.Overlaps(cidr) {
		return peer{}, fmt.Sprintf("pod CIDR %s overlaps this node's %s", cidr, ownCIDR)
	}
	ip := internalIP(n, cidr.Addr().Is4())
	if !ip.IsValid() {
		return peer{}, "no InternalIP"
	}
	pr := peer{Name: n.Name, PodCIDR: cidr, IP: ip, VTEP: ip}
	if s := n.Annotations[VXLANIPAnnotation]; s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return peer{}, fmt.Sprintf("annotation %s: %v", VXLANIPAnnotation, err)
		}
		pr.VTEP = a.Unmap()
	}
	if s := n.Annotations[VXLANMACAnnotation]; s != "" {
		mac, err := net.ParseMAC(s)
		if err != nil || len(mac) != 6 {
			return peer{}, fmt.Sprintf("annotation %s: bad MAC %q", VXLANMACAnnotation, s)
		}
		pr.MAC = mac.String()
	}
	return pr, ""
}

// podCIDR is n's spec.podCIDR, masked; invalid when unset.
func podCIDR(n *corev1.Node) (netip.Prefix, error) {
	if n.Spec.PodCIDR == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("pod CIDR: %w", err)
	}
	return p.Masked(), nil
}

// internalIP is n's first InternalIP of the family; invalid when none.
func internalIP(n *corev1.Node, v4 bool) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		if ip = ip.Unmap(); ip.Is4() == v4 {
			return ip
		}
	}
	return netip.Addr{}
}

// vtepMAC is the VXLAN device's MAC for a node: derived from its name so
// that it stays the same when the device is made again, locally
// administered and unicast.
func vtepMAC(node string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("berth-vxlan/" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// relevant projects what of a Node matters to the routes.
type relevant struct {
	PodCIDR, IP, MAC, VTEP string
	Deleting               bool
}

func relevantOf(n *corev1.Node) relevant {
	r := relevant{PodCIDR: n.Spec.PodCIDR, MAC: n.Annotations[VXLANMACAnnotation], VTEP: n.Annotations[VXLANIPAnnotation], Deleting: n.DeletionTimestamp != nil}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			r.IP += a.Address + ","
		}
	}
	return r
}
