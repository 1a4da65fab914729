package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes Routes adds (the rtm_protocol of
// `ip route ... proto 98`): with the cluster CIDR it tells them from the
// others, also after a restart.
const RouteProtocol = 98

// VXLANOverhead is what VXLAN over IPv4 adds to a packet: the VXLAN
// device's MTU is its underlay link's less this.
const VXLANOverhead = 50

// dataplane is the kernel state Routes manages. Routes are those in the
// cluster CIDR that carry RouteProtocol and go through the VXLAN device or
// through no VXLAN device at all (another agent's on the same host is not
// ours); neighbour and FDB entries are those of the VXLAN device.
type dataplane interface {
	// enableForwarding turns IP forwarding on.
	enableForwarding() error
	// reach tells how this host reaches a node address.
	reach(netip.Addr) (reach, error)
	// ensureDevice makes the VXLAN device as described and up, making
	// it again if it differs in what cannot be changed.
	ensureDevice(vxlanDevice) error
	// removeDevice deletes the VXLAN device if it exists.
	removeDevice(name string) error
	routes() ([]route, error)
	addRoute(route) error
	delRoute(route) error
	// neighbours lists the permanent ones, fdb the remote entries; both
	// are empty without the device.
	neighbours() ([]neighbour, error)
	setNeighbour(neighbour) error
	delNeighbour(neighbour) error
	fdb() ([]fdbEntry, error)
	setFDB(fdbEntry) error
	delFDB(fdbEntry) error
	close()
}

// vxlanDevice describes the VXLAN device.
type vxlanDevice struct {
	Name      string
	VNI, Port int
	Local     netip.Addr
	MAC       net.HardwareAddr
	Addr      netip.Prefix // invalid: no address
}

// kernel is the dataplane of one network namespace, through netlink.
type kernel struct {
	h       *netlink.Handle
	device  string
	cluster netip.Prefix
	family  int
}

var _ dataplane = (*kernel)(nil)

// openKernel returns the dataplane of the calling thread's network
// namespace: its netlink socket stays there whichever thread uses it.
func openKernel(device string, cluster netip.Prefix) (*kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	family := netlink.FAMILY_V4
	if cluster.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	return &kernel{h: h, device: device, cluster: cluster, family: family}, nil
}

func (k *kernel) close() { k.h.Close() }

// enableForwarding turns on IP forwarding in the calling thread's network
// namespace (/proc/sys/net is the namespace of the thread that opens it).
func (k *kernel) enableForwarding() error {
	path := "/proc/sys/net/ipv4/ip_forward"
	if k.family == netlink.FAMILY_V6 {
		path = "/proc/sys/net/ipv6/conf/all/forwarding"
	}
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable IP forwarding: %w", err)
	}
	return nil
}

func (k *kernel) reach(ip netip.Addr) (reach, error) {
	rs, err := k.h.RouteGet(ip.AsSlice())
	if err != nil {
		return 0, err
	}
	if len(rs) == 0 {
		return 0, errors.New("no route")
	}
	switch r := rs[0]; {
	case r.Type == unix.RTN_LOCAL:
		return reachLocal, nil
	case r.Gw != nil || r.Via != nil:
		return reachGateway, nil
	}
	return reachDirect, nil
}

// link returns the VXLAN device, nil when there is none.
func (k *kernel) link() (netlink.Link, error) {
	l, err := k.h.LinkByName(k.device)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil, nil
	}
	return l, err
}

func (k *kernel) ensureDevice(d vxlanDevice) error {
	parent, mtu, err := k.underlay(d.Local)
	if err != nil {
		return err
	}
	l, err := k.h.LinkByName(d.Name)
	if err != nil && !errors.As(err, &netlink.LinkNotFoundError{}) {
		return err
	}
	if l != nil {
		v, ok := l.(*netlink.Vxlan)
		if !ok || v.VxlanId != d.VNI || v.Port != d.Port || !v.SrcAddr.Equal(d.Local.AsSlice()) || v.Learning || v.VtepDevIndex != parent {
			if err := k.h.LinkDel(l); err != nil {
				return fmt.Errorf("delete mismatching device: %w", err)
			}
			l = nil
		}
	}
	if l == nil {
		v := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: d.Name, MTU: mtu, HardwareAddr: d.MAC},
			VxlanId:   d.VNI, VtepDevIndex: parent, SrcAddr: d.Local.AsSlice(), Port: d.Port, Learning: false,
		}
		if err := k.h.LinkAdd(v); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		if l, err = k.h.LinkByName(d.Name); err != nil {
			return err
		}
	}
	a := l.Attrs()
	if a.HardwareAddr.String() != d.MAC.String() {
		if err := k.h.LinkSetHardwareAddr(l, d.MAC); err != nil {
			return fmt.Errorf("set MAC: %w", err)
		}
	}
	if a.MTU != mtu {
		if err := k.h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU: %w", err)
		}
	}
	if err := k.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	addrs, err := k.h.AddrList(l, k.family)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	found := false
	for _, ad := range addrs {
		p, ok := prefixOf(ad.IPNet)
		if ok && p == d.Addr {
			found = true
			continue
		}
		if ad.IP.IsLinkLocalUnicast() {
			continue
		}
		if err := k.h.AddrDel(l, &ad); err != nil {
			return fmt.Errorf("delete address %s: %w", ad.IPNet, err)
		}
	}
	if d.Addr.IsValid() && !found {
		if err := k.h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(d.Addr)}); err != nil {
			return fmt.Errorf("add address %s: %w", d.Addr, err)
		}
	}
	return nil
}

// underlay returns the link holding address local and the VXLAN MTU over
// it.
func (k *kernel) underlay(local netip.Addr) (int, int, error) {
	addrs, err := k.h.AddrList(nil, k.family)
	if err != nil {
		return 0, 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == local {
			l, err := k.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, 0, err
			}
			overhead := VXLANOverhead
			if local.Is6() {
				overhead += 20
			}
			return a.LinkIndex, l.Attrs().MTU - overhead, nil
		}
	}
	return 0, 0, fmt.Errorf("node address %s is on no interface of this host", local)
}

func (k *kernel) removeDevice(name string) error {
	l, err := k.h.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok := l.(*netlink.Vxlan); !ok {
		return fmt.Errorf("%s is a %s device, not vxlan", name, l.Type())
	}
	return k.h.LinkDel(l)
}

func (k *kernel) routes() ([]route, error) {
	rs, err := k.h.RouteListFiltered(k.family, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, err
	}
	dev, err := k.link()
	if err != nil {
		return nil, err
	}
	kinds := map[int]bool{} // link index → is VXLAN
	var out []route
	for _, r := range rs {
		dst, ok := prefixOf(r.Dst)
		if !ok || !k.cluster.Contains(dst.Addr()) || dst.Bits() < k.cluster.Bits() {
			continue
		}
		via, ok := netip.AddrFromSlice(r.Gw)
		if !ok {
			continue
		}
		rt := route{Dst: dst, Via: via.Unmap()}
		if dev != nil && r.LinkIndex == dev.Attrs().Index {
			rt.VXLAN = true
		} else {
			isVXLAN, seen := kinds[r.LinkIndex]
			if !seen {
				if l, err := k.h.LinkByIndex(r.LinkIndex); err == nil {
					isVXLAN = l.Type() == "vxlan"
				}
				kinds[r.LinkIndex] = isVXLAN
			}
			if isVXLAN {
				continue // another agent's
			}
		}
		out = append(out, rt)
	}
	return out, nil
}

// netlinkRoute is r as netlink wants it.
func (k *kernel) netlinkRoute(r route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Gw: r.Via.AsSlice(), Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	if r.VXLAN {
		dev, err := k.link()
		if err != nil {
			return nil, err
		}
		if dev == nil {
			return nil, fmt.Errorf("no device %s", k.device)
		}
		nr.LinkIndex = dev.Attrs().Index
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

func (k *kernel) addRoute(r route) error {
	nr, err := k.netlinkRoute(r)
	if err != nil {
		return err
	}
	return k.h.RouteReplace(nr)
}

func (k *kernel) delRoute(r route) error {
	nr, err := k.netlinkRoute(r)
	if err != nil {
		return err
	}
	err = k.h.RouteDel(nr)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func (k *kernel) neighbours() ([]neighbour, error) {
	dev, err := k.link()
	if err != nil || dev == nil {
		return nil, err
	}
	ns, err := k.h.NeighList(dev.Attrs().Index, k.family)
	if err != nil {
		return nil, err
	}
	var out []neighbour
	for _, n := range ns {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.State&netlink.NUD_PERMANENT == 0 || len(n.HardwareAddr) == 0 {
			continue
		}
		out = append(out, neighbour{IP: ip.Unmap(), MAC: n.HardwareAddr.String()})
	}
	return out, nil
}

func (k *kernel) neigh(n neighbour) (*netlink.Neigh, error) {
	dev, err := k.link()
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("no device %s", k.device)
	}
	mac, err := net.ParseMAC(n.MAC)
	if err != nil {
		return nil, err
	}
	return &netlink.Neigh{
		LinkIndex: dev.Attrs().Index, Family: k.family, State: netlink.NUD_PERMANENT,
		Type: unix.RTN_UNICAST, IP: n.IP.AsSlice(), HardwareAddr: mac,
	}, nil
}

func (k *kernel) setNeighbour(n neighbour) error {
	nn, err := k.neigh(n)
	if err != nil {
		return err
	}
	return k.h.NeighSet(nn)
}

func (k *kernel) delNeighbour(n neighbour) error {
	nn, err := k.neigh(n)
	if err != nil {
		return err
	}
	return k.h.NeighDel(nn)
}

func (k *kernel) fdb() ([]fdbEntry, error) {
	dev, err := k.link()
	if err != nil || dev == nil {
		return nil, err
	}
	ns, err := k.h.NeighList(dev.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return nil, err
	}
	var out []fdbEntry
	for _, n := range ns {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || len(n.HardwareAddr) == 0 {
			continue
		}
		out = append(out, fdbEntry{MAC: n.HardwareAddr.String(), Dst: ip.Unmap()})
	}
	return out, nil
}

func (k *kernel) fdbNeigh(e fdbEntry) (*netlink.Neigh, error) {
	dev, err := k.link()
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("no device %s", k.device)
	}
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return nil, err
	}
	return &netlink.Neigh{
		LinkIndex: dev.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
		Flags: netlink.NTF_SELF, IP: e.Dst.AsSlice(), HardwareAddr: mac,
	}, nil
}

func (k *kernel) setFDB(e fdbEntry) error {
	n, err := k.fdbNeigh(e)
	if err != nil {
		return err
	}
	return k.h.NeighSet(n)
}

func (k *kernel) delFDB(e fdbEntry) error {
	n, err := k.fdbNeigh(e)
	if err != nil {
		return err
	}
	return k.h.NeighDel(n)
}

// prefixOf converts a net.IPNet; false when nil or malformed.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	if ip.BitLen() != bits {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

// ipNet converts a prefix.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
