package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// labelServiceProxyName marks Services handled by another proxy.
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	// labelHeadless marks EndpointSlices of headless Services.
	labelHeadless = corev1.IsHeadlessService
	// defaultAffinitySeconds is sessionAffinityConfig.clientIP.timeoutSeconds'
	// default.
	defaultAffinitySeconds = 10800
)

// portName names one port of a Service, as kube-proxy's ServicePortName.
type portName struct {
	svc      types.NamespacedName
	port     string
	protocol corev1.Protocol
}

func (n portName) String() string {
	return fmt.Sprintf("%s/%s:%s", n.svc.Namespace, n.svc.Name, n.port)
}

// servicePort is what the proxy needs of one port of a Service.
type servicePort struct {
	name      portName
	proto     string // nftables' name: tcp, udp, sctp
	clusterIP netip.Addr
	port      int32
	nodePort  int32
	// externalIPs and lbIPs are the IPv4 spec.externalIPs and VIP-mode
	// status.loadBalancer.ingress IPs.
	externalIPs  []netip.Addr
	lbIPs        []netip.Addr
	sourceRanges []netip.Prefix
	// affinitySeconds is the ClientIP affinity timeout, 0 without affinity.
	affinitySeconds int32
	internalLocal   bool
	externalLocal   bool
}

// externallyAccessible: reachable other than through the ClusterIP.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.lbIPs) > 0 || len(sp.externalIPs) > 0
}

// usesClusterEndpoints: some traffic goes to Cluster-policy endpoints
// (external traffic always may: pod and host traffic is short-circuited).
func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalLocal || sp.externallyAccessible()
}

// usesLocalEndpoints: some traffic goes to Local-policy endpoints.
func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalLocal || (sp.externalLocal && sp.externallyAccessible())
}

// servicePorts returns the ports the proxy serves for svc, or nil when it
// serves none: headless and ExternalName Services, Services of another
// proxy, Services without an IPv4 ClusterIP.
func servicePorts(svc *corev1.Service) []*servicePort {
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if _, ok := svc.Labels[labelServiceProxyName]; ok {
		return nil
	}
	clusterIP := clusterIPv4(svc)
	if !clusterIP.IsValid() {
		return nil
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	accessible := svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
	externalLocal := accessible && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal

	var affinity int32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = defaultAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	externalIPs := parseIPv4s(svc.Spec.ExternalIPs)
	var lbIPs []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		// Proxy-mode load balancers deliver to the nodes themselves.
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP) {
			continue
		}
		lbIPs = append(lbIPs, parseIPv4s([]string{ing.IP})...)
	}
	var ranges []netip.Prefix
	for _, r := range svc.Spec.LoadBalancerSourceRanges {
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		if err != nil || !p.Addr().Is4() {
			continue
		}
		if p.Bits() == 0 { // allow all: as no ranges
			ranges = nil
			break
		}
		ranges = append(ranges, p.Masked())
	}

	ports := make([]*servicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		ports = append(ports, &servicePort{
			name:            portName{svc: key, port: p.Name, protocol: proto},
			proto:           strings.ToLower(string(proto)),
			clusterIP:       clusterIP,
			port:            p.Port,
			nodePort:        p.NodePort,
			externalIPs:     externalIPs,
			lbIPs:           lbIPs,
			sourceRanges:    ranges,
			affinitySeconds: affinity,
			internalLocal:   internalLocal,
			externalLocal:   externalLocal,
		})
	}
	return ports
}

// clusterIPv4 is the Service's IPv4 ClusterIP, invalid if none (or
// headless).
func clusterIPv4(svc *corev1.Service) netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if s == corev1.ClusterIPNone {
			return netip.Addr{}
		}
		if ip, err := netip.ParseAddr(s); err == nil && ip.Unmap().Is4() {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func parseIPv4s(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if ip, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && ip.Unmap().Is4() {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// endpoint is one address:port backing a service port.
type endpoint struct {
	ip          netip.Addr
	port        int32
	local       bool
	ready       bool
	serving     bool
	terminating bool
	zoneHints   []string
}

func (e *endpoint) String() string {
	return netip.AddrPortFrom(e.ip, uint16(e.port)).String()
}

// slicePortKey matches an EndpointSlice port to a Service port.
type slicePortKey struct {
	name     string
	protocol corev1.Protocol
}

// endpointsByPort merges a Service's EndpointSlices into the endpoints of
// each (port name, protocol). An endpoint listed in several slices counts
// once; a local copy wins over a remote one, then a ready one over one
// that is not. Each list is sorted by address:port.
func endpointsByPort(byName map[string]*discoveryv1.EndpointSlice, nodeName string) map[slicePortKey][]*endpoint {
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	slices.Sort(names)
	sets := map[slicePortKey]map[netip.AddrPort]*endpoint{}
	for _, name := range names {
		es := byName[name]
		if es.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, p := range es.Ports {
			if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
				continue
			}
			key := slicePortKey{protocol: corev1.ProtocolTCP}
			if p.Name != nil {
				key.name = *p.Name
			}
			if p.Protocol != nil {
				key.protocol = *p.Protocol
			}
			set := sets[key]
			if set == nil {
				set = map[netip.AddrPort]*endpoint{}
				sets[key] = set
			}
			for i := range es.Endpoints {
				ep := newEndpoint(&es.Endpoints[i], *p.Port, nodeName)
				if ep == nil {
					continue
				}
				ap := netip.AddrPortFrom(ep.ip, uint16(ep.port))
				if old, ok := set[ap]; ok && !better(ep, old) {
					continue
				}
				set[ap] = ep
			}
		}
	}
	out := make(map[slicePortKey][]*endpoint, len(sets))
	for key, set := range sets {
		list := make([]*endpoint, 0, len(set))
		for _, ep := range set {
			list = append(list, ep)
		}
		slices.SortFunc(list, func(a, b *endpoint) int { return cmp.Compare(a.String(), b.String()) })
		out[key] = list
	}
	return out
}

// better says whether duplicate a should replace b.
func better(a, b *endpoint) bool {
	if a.local != b.local {
		return a.local
	}
	return a.ready && !b.ready
}

func newEndpoint(e *discoveryv1.Endpoint, port int32, nodeName string) *endpoint {
	if len(e.Addresses) == 0 {
		return nil
	}
	ip, err := netip.ParseAddr(e.Addresses[0])
	if err != nil || !ip.Unmap().Is4() {
		return nil
	}
	ep := &endpoint{
		ip:          ip.Unmap(),
		port:        port,
		local:       e.NodeName != nil && *e.NodeName == nodeName,
		ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
		serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
		terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
	}
	if e.Hints != nil {
		for _, z := range e.Hints.ForZones {
			ep.zoneHints = append(ep.zoneHints, z.Name)
		}
		slices.Sort(ep.zoneHints)
	}
	return ep
}

// categorized are a service port's endpoints by use, as kube-proxy's
// CategorizeEndpoints: "usable" means ready, or, when none is ready,
// serving and terminating (separately for Cluster and Local).
type categorized struct {
	// cluster are the Cluster-policy endpoints (nil if the port never
	// uses that policy), local the Local-policy ones.
	cluster, local []*endpoint
	// reachable is the union of both: each needs its endpoint chain.
	reachable []*endpoint
	// any: some endpoint anywhere in the cluster is usable.
	any bool
}

func categorize(eps []*endpoint, sp *servicePort, zone string) categorized {
	var c categorized
	if len(eps) == 0 {
		return c
	}
	if sp.usesClusterEndpoints() {
		useZone := zone != "" && zoneHintsApply(eps, zone)
		c.cluster = filter(eps, func(e *endpoint) bool {
			return e.ready && (!useZone || slices.Contains(e.zoneHints, zone))
		})
		if len(c.cluster) == 0 {
			c.cluster = filter(eps, func(e *endpoint) bool { return e.serving && e.terminating })
		}
		c.any = len(c.cluster) > 0
	}
	if !sp.usesLocalEndpoints() {
		c.reachable = c.cluster
		return c
	}
	var localReady, localTerminating bool
	for _, e := range eps {
		switch {
		case e.ready:
			c.any = true
			localReady = localReady || e.local
		case e.serving && e.terminating:
			c.any = true
			localTerminating = localTerminating || e.local
		}
	}
	switch {
	case localReady:
		c.local = filter(eps, func(e *endpoint) bool { return e.local && e.ready })
	case localTerminating:
		c.local = filter(eps, func(e *endpoint) bool { return e.local && e.serving && e.terminating })
	}
	if !sp.usesClusterEndpoints() {
		c.reachable = c.local
		return c
	}
	seen := map[string]bool{}
	for _, list := range [][]*endpoint{c.cluster, c.local} {
		for _, e := range list {
			if !seen[e.String()] {
				seen[e.String()] = true
				c.reachable = append(c.reachable, e)
			}
		}
	}
	slices.SortFunc(c.reachable, func(a, b *endpoint) int { return cmp.Compare(a.String(), b.String()) })
	return c
}

// zoneHintsApply: every ready endpoint has a zone hint and one is for
// zone (kube-proxy's PreferSameZone topology mode).
func zoneHintsApply(eps []*endpoint, zone string) bool {
	ready, forZone := false, false
	for _, e := range eps {
		if !e.ready {
			continue
		}
		ready = true
		if len(e.zoneHints) == 0 {
			return false
		}
		forZone = forZone || slices.Contains(e.zoneHints, zone)
	}
	return ready && forZone
}

func filter(eps []*endpoint, keep func(*endpoint) bool) []*endpoint {
	var out []*endpoint
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
