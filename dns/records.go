package dns

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// SchemaVersion is the Kubernetes DNS schema version served as the TXT
// record of dns-version.DOMAIN.
const SchemaVersion = "1.1.0"

// maxChase bounds CNAME chains of ExternalName Services inside the domain.
const maxChase = 8

// answer is the outcome of a question under the cluster domain.
type answer struct {
	rcode  int // RcodeSuccess or RcodeNameError
	answer []mdns.RR
	extra  []mdns.RR
}

// entry is one record a Service name stands for, as CoreDNS's
// kubernetes plugin sees it: an address with the name that owns it (the
// Service's, or its endpoint's) and a port, or an ExternalName target.
type entry struct {
	owner string // fully qualified, lower case
	addr  netip.Addr
	port  int32 // -1: none
	cname string
}

// nxdomain is the answer for names that do not exist.
var nxdomain = answer{rcode: mdns.RcodeNameError}

// resolve answers a question for a name under the domain. qname is as
// asked; depth counts the CNAMEs followed so far.
func (s *Server) resolve(ctx context.Context, qname string, qtype uint16, depth int) answer {
	lname := asciiLower(qname)
	rel := strings.TrimSuffix(strings.TrimSuffix(lname, s.zone), ".")
	var labels []string
	if rel != "" {
		labels = mdns.SplitDomainName(rel)
	}
	if len(labels) == 0 { // the apex
		switch qtype {
		case mdns.TypeSOA:
			return answer{answer: []mdns.RR{s.soa(qname)}}
		case mdns.TypeNS:
			return s.nameservers(qname)
		}
		return answer{}
	}
	last := len(labels) - 1
	switch labels[last] {
	case "svc":
		return s.resolveService(ctx, qname, qtype, labels[:last], depth)
	case "pod":
		return s.resolvePod(qname, qtype, labels[:last])
	case "dns":
		switch {
		case len(labels) == 1:
			return answer{} // empty non-terminal
		case len(labels) == 2 && labels[0] == "ns":
			return s.addresses(qname, qtype, s.dnsServiceIPs())
		}
	case "dns-version":
		if len(labels) == 1 {
			if qtype == mdns.TypeTXT {
				txt := &mdns.TXT{Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 28800}, Txt: []string{SchemaVersion}}
				return answer{answer: []mdns.RR{txt}}
			}
			return answer{}
		}
	}
	return nxdomain
}

// resolveService answers names ending in .svc.DOMAIN; labels are those
// before "svc".
func (s *Server) resolveService(ctx context.Context, qname string, qtype uint16, labels []string, depth int) answer {
	var svcName, ns, endpointLabel, portName, proto string
	switch len(labels) {
	case 0, 1: // svc.DOMAIN and NAMESPACE.svc.DOMAIN: empty non-terminals
		return answer{}
	case 2:
		svcName, ns = labels[0], labels[1]
	case 3:
		endpointLabel, svcName, ns = labels[0], labels[1], labels[2]
	case 4:
		portName, proto = strings.TrimPrefix(labels[0], "_"), strings.TrimPrefix(labels[1], "_")
		svcName, ns = labels[2], labels[3]
	default:
		return nxdomain
	}
	svc := s.idx.lookup(ns, svcName)
	if svc == nil {
		return nxdomain
	}
	entries, found := svc.entries(endpointLabel, portName, proto)
	if !found {
		return nxdomain
	}
	if len(entries) == 1 && entries[0].cname != "" {
		return s.externalName(ctx, qname, qtype, entries[0].cname, depth)
	}
	switch qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		var addrs []netip.Addr
		for _, e := range entries {
			addrs = append(addrs, e.addr)
		}
		return s.addresses(qname, qtype, addrs)
	case mdns.TypeSRV:
		return s.srv(qname, entries)
	}
	return answer{}
}

// entries lists what a name of the Service stands for, and whether the
// name exists, as CoreDNS's kubernetes plugin: endpointLabel selects
// endpoints by hostname or dashed address (of any Service with
// endpoints), portName and proto select ports (empty: all).
func (svc *service) entries(endpointLabel, portName, proto string) (out []entry, found bool) {
	match := func(p port) bool {
		return (portName == "" || portName == p.name) && (proto == "" || proto == p.proto)
	}
	if svc.kind == kindExternal {
		if endpointLabel != "" || portName != "" || proto != "" {
			return nil, false
		}
		if _, err := netip.ParseAddr(strings.TrimSuffix(svc.externalName, ".")); err == nil {
			return nil, false // an address is no name to point at
		}
		return []entry{{owner: svc.fqdn, cname: svc.externalName}}, true
	}
	if svc.kind == kindHeadless || endpointLabel != "" {
		noPorts := []port{{port: -1}}
		for _, e := range svc.endpoints {
			if endpointLabel != "" && endpointLabel != e.label {
				continue
			}
			ports := e.ports
			if len(ports) == 0 {
				ports = noPorts
			}
			for _, p := range ports {
				if match(p) {
					out = append(out, entry{owner: e.label + "." + svc.fqdn, addr: e.addr, port: p.port})
				}
			}
		}
		return out, len(out) > 0
	}
	for _, p := range svc.ports {
		if !match(p) {
			continue
		}
		found = true
		for _, ip := range svc.clusterIPs {
			out = append(out, entry{owner: svc.fqdn, addr: ip, port: p.port})
		}
	}
	return out, found
}

// addresses answers A or AAAA questions with the addresses of the
// question's family, each once; other types get no data.
func (s *Server) addresses(qname string, qtype uint16, addrs []netip.Addr) answer {
	var a answer
	seen := map[netip.Addr]bool{}
	for _, ip := range addrs {
		if seen[ip] {
			continue
		}
		seen[ip] = true
		if rr := s.addressRR(qname, qtype, ip); rr != nil {
			a.answer = append(a.answer, rr)
		}
	}
	return a
}

// addressRR is an A (qtype A, IPv4) or AAAA (qtype AAAA, IPv6) record,
// nil when qtype and address do not match.
func (s *Server) addressRR(name string, qtype uint16, ip netip.Addr) mdns.RR {
	hdr := mdns.RR_Header{Name: name, Rrtype: qtype, Class: mdns.ClassINET, Ttl: s.ttl}
	switch {
	case qtype == mdns.TypeA && ip.Is4():
		return &mdns.A{Hdr: hdr, A: ip.AsSlice()}
	case qtype == mdns.TypeAAAA && ip.Is6():
		return &mdns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()}
	}
	return nil
}

// srv answers SRV questions: one record per owner name and port (entries
// without a port are left out), weights shared equally as CoreDNS does,
// and the owners' addresses in the additional section.
func (s *Server) srv(qname string, entries []entry) answer {
	type target struct {
		name string
		port int32
	}
	var targets []target
	seen := map[target]bool{}
	for _, e := range entries {
		t := target{e.owner, e.port}
		if e.port < 0 || seen[t] {
			continue
		}
		seen[t] = true
		targets = append(targets, t)
	}
	var a answer
	if len(targets) == 0 {
		return a
	}
	weight := uint16(100 / len(targets))
	if weight == 0 {
		weight = 1
	}
	for _, t := range targets {
		a.answer = append(a.answer, &mdns.SRV{
			Hdr:      mdns.RR_Header{Name: qname, Rrtype: mdns.TypeSRV, Class: mdns.ClassINET, Ttl: s.ttl},
			Priority: 0, Weight: weight, Port: uint16(t.port), Target: t.name,
		})
	}
	type glue struct {
		name string
		addr netip.Addr
	}
	added := map[glue]bool{}
	for _, e := range entries {
		g := glue{e.owner, e.addr}
		if e.port < 0 || added[g] {
			continue
		}
		added[g] = true
		qt := mdns.TypeA
		if e.addr.Is6() {
			qt = mdns.TypeAAAA
		}
		a.extra = append(a.extra, s.addressRR(e.owner, qt, e.addr))
	}
	return a
}

// externalName answers for an ExternalName Service: the CNAME, followed
// by the target's records of the asked type, resolved here when the
// target is in the domain and through the upstreams otherwise. When the
// upstreams fail the CNAME alone is returned for the client to follow.
func (s *Server) externalName(ctx context.Context, qname string, qtype uint16, target string, depth int) answer {
	cname := &mdns.CNAME{Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: s.ttl}, Target: target}
	a := answer{answer: []mdns.RR{cname}}
	if qtype == mdns.TypeCNAME || asciiLower(qname) == target || depth >= maxChase {
		return a
	}
	if s.inZone(target) {
		next := s.resolve(ctx, target, qtype, depth+1)
		a.rcode = next.rcode
		a.answer = append(a.answer, next.answer...)
		a.extra = append(a.extra, next.extra...)
		return a
	}
	m, err := s.fwd.lookup(ctx, target, qtype)
	if err != nil {
		return a
	}
	if m.Rcode == mdns.RcodeNameError {
		a.rcode = m.Rcode
	}
	a.answer = append(a.answer, m.Answer...)
	return a
}

// resolvePod answers names ending in .pod.DOMAIN from the name alone, as
// CoreDNS's "pods insecure": 10-42-0-5.NAMESPACE.pod.DOMAIN is 10.42.0.5.
func (s *Server) resolvePod(qname string, qtype uint16, labels []string) answer {
	switch len(labels) {
	case 0, 1:
		return answer{}
	case 2:
	default:
		return nxdomain
	}
	name := labels[0]
	var text string
	if strings.Count(name, "-") == 3 && !strings.Contains(name, "--") {
		text = strings.ReplaceAll(name, "-", ".")
	} else {
		text = strings.ReplaceAll(name, "-", ":")
	}
	ip, err := netip.ParseAddr(text)
	if err != nil || ip.Zone() != "" {
		return nxdomain
	}
	return s.addresses(qname, qtype, []netip.Addr{ip.Unmap()})
}

// nameservers answers NS at the apex: ns.dns.DOMAIN, with the addresses
// of the kube-dns Service as glue.
func (s *Server) nameservers(qname string) answer {
	ns := "ns.dns." + s.zone
	a := answer{answer: []mdns.RR{&mdns.NS{Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: s.ttl}, Ns: ns}}}
	for _, ip := range s.dnsServiceIPs() {
		qt := mdns.TypeA
		if ip.Is6() {
			qt = mdns.TypeAAAA
		}
		a.extra = append(a.extra, s.addressRR(ns, qt, ip))
	}
	return a
}

// dnsServiceIPs are the ClusterIPs of kube-system/kube-dns.
func (s *Server) dnsServiceIPs() []netip.Addr {
	if svc := s.idx.lookup("kube-system", "kube-dns"); svc != nil {
		return svc.clusterIPs
	}
	return nil
}

// soa is the zone's SOA record, as CoreDNS makes it; name is the zone as
// the question spelled it.
func (s *Server) soa(name string) mdns.RR {
	ttl := min(s.ttl, 300)
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: name, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  s.idx.soaSerial(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

// inZone tells whether a lower-case name is the domain or under it.
func (s *Server) inZone(lname string) bool {
	return lname == s.zone || strings.HasSuffix(lname, "."+s.zone)
}

// reverseAddr parses an in-addr.arpa or ip6.arpa name.
func reverseAddr(lname string) (netip.Addr, bool) {
	switch {
	case strings.HasSuffix(lname, ".in-addr.arpa."):
		labels := strings.Split(strings.TrimSuffix(lname, ".in-addr.arpa."), ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(lname, ".ip6.arpa."):
		labels := strings.Split(strings.TrimSuffix(lname, ".ip6.arpa."), ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 16, 8)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, false
			}
			j := 31 - i
			if j%2 == 0 {
				b[j/2] |= byte(n) << 4
			} else {
				b[j/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b).Unmap(), true
	}
	return netip.Addr{}, false
}

// asciiLower lower-cases the ASCII letters of a DNS name and nothing
// else, keeping its length.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
