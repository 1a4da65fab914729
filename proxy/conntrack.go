package proxy

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// udpFlowFilter matches the conntrack flows of UDP service ports that do
// not go to one of the port's serving endpoints, as kube-proxy's
// conntrack reconciler: UDP has no connection to break, so without this
// a client keeps sending to a gone endpoint for as long as it sends.
type udpFlowFilter struct {
	// byAddr maps service address:port to its serving endpoint IPs.
	byAddr map[netip.AddrPort]map[netip.Addr]bool
	// byNodePort does the same for NodePorts (on nodeIPs).
	byNodePort map[uint16]map[netip.Addr]bool
	nodeIPs    map[netip.Addr]bool
}

var _ netlink.CustomConntrackFilter = (*udpFlowFilter)(nil)

func (f *udpFlowFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	dst, ok1 := netip.AddrFromSlice(flow.Forward.DstIP)
	replySrc, ok2 := netip.AddrFromSlice(flow.Reverse.SrcIP)
	if !ok1 || !ok2 {
		return false
	}
	dst, replySrc = dst.Unmap(), replySrc.Unmap()
	if eps, ok := f.byAddr[netip.AddrPortFrom(dst, flow.Forward.DstPort)]; ok && !eps[replySrc] {
		return true
	}
	if eps, ok := f.byNodePort[flow.Forward.DstPort]; ok && f.nodeIPs[dst] && !eps[replySrc] {
		return true
	}
	return false
}

// udpFilter builds the filter from the Services last written.
func (p *Proxier) udpFilter() *udpFlowFilter {
	f := &udpFlowFilter{
		byAddr:     map[netip.AddrPort]map[netip.Addr]bool{},
		byNodePort: map[uint16]map[netip.Addr]bool{},
		nodeIPs:    map[netip.Addr]bool{},
	}
	for _, ip := range p.r.nodeIPs {
		f.nodeIPs[ip] = true
	}
	for _, r := range p.k.services {
		for _, t := range r.udp {
			for _, ip := range t.ips {
				f.byAddr[netip.AddrPortFrom(ip, uint16(t.port))] = t.serving
			}
			if t.nodePort != 0 {
				f.byNodePort[uint16(t.nodePort)] = t.serving
			}
		}
	}
	return f
}

// clearStaleUDP deletes stale UDP flows, best-effort; syncMu held.
func (p *Proxier) clearStaleUDP() {
	f := p.udpFilter()
	if len(f.byAddr) == 0 {
		return
	}
	n, err := p.ct.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	if err != nil {
		p.logger.Warn("clear stale udp conntrack flows", "err", err)
		return
	}
	if n > 0 {
		p.logger.Debug("cleared stale udp conntrack flows", "flows", n)
	}
}
