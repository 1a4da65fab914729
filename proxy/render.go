package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// Names of the table's fixed objects (the nftables kube-proxy's).
const (
	servicesChain               = "services"
	serviceIPsMap               = "service-ips"
	serviceNodePortsMap         = "service-nodeports"
	nodePortIPsSet              = "nodeport-ips"
	clusterIPsSet               = "cluster-ips"
	clusterIPsCheckChain        = "cluster-ips-check"
	serviceEndpointsCheckChain  = "service-endpoints-check"
	nodePortEndpointsCheckChain = "nodeport-endpoints-check"
	noEndpointServicesMap       = "no-endpoint-services"
	noEndpointNodePortsMap      = "no-endpoint-nodeports"
	rejectChain                 = "reject-chain"
	firewallIPsMap              = "firewall-ips"
	firewallCheckChain          = "firewall-check"
	markMasqChain               = "mark-for-masquerade"
	masqueradingChain           = "masquerading"

	// masqueradeMark is the packet mark bit meaning "masquerade me"
	// (kube-proxy's default bit 14).
	masqueradeMark = "0x4000"
)

// Prefixes of the per-service objects' names.
const (
	clusterChainPrefix  = "service-"
	localChainPrefix    = "local-"
	externalChainPrefix = "external-"
	firewallChainPrefix = "firewall-"
	endpointChainPrefix = "endpoint-"
	affinitySetPrefix   = "affinity-"
)

// ruleDef is one rule of a chain.
type ruleDef struct {
	rule    string
	comment string
}

// chainDef is the content of a per-service chain. deps names what the
// rules refer to beyond their text (the affinity sets' timeout), so that
// a change to it rewrites the chain.
type chainDef struct {
	rules []ruleDef
	deps  string
}

func (c *chainDef) add(comment string, parts ...any) {
	c.rules = append(c.rules, ruleDef{rule: knftables.Concat(parts...), comment: comment})
}

func (c *chainDef) equal(o *chainDef) bool {
	if c == nil || o == nil {
		return c == o
	}
	if c.deps != o.deps || len(c.rules) != len(o.rules) {
		return false
	}
	for i := range c.rules {
		if c.rules[i] != o.rules[i] {
			return false
		}
	}
	return true
}

// setDef defines a ClientIP affinity set.
type setDef struct {
	timeoutSeconds int32
}

// elemKey is a set or map element: the container and the key's fields
// joined by " . ".
type elemKey struct {
	container string
	key       string
}

// elemVal is a map element's value (empty for a set) and comment.
type elemVal struct {
	value   string
	comment string
}

// udpTarget is what the conntrack cleanup needs of a UDP service port.
type udpTarget struct {
	ips      []netip.Addr
	port     int32
	nodePort int32
	serving  map[netip.Addr]bool
}

// rendered is everything the proxy writes for one Service.
type rendered struct {
	chains map[string]*chainDef
	sets   map[string]setDef
	elems  map[elemKey]elemVal
	udp    []udpTarget
}

func (r *rendered) equal(o *rendered) bool {
	if r == nil || o == nil {
		return r == o
	}
	if len(r.chains) != len(o.chains) || len(r.sets) != len(o.sets) || len(r.elems) != len(o.elems) {
		return false
	}
	for name, c := range r.chains {
		if !c.equal(o.chains[name]) {
			return false
		}
	}
	for name, s := range r.sets {
		if os, ok := o.sets[name]; !ok || os != s {
			return false
		}
	}
	for k, v := range r.elems {
		if ov, ok := o.elems[k]; !ok || ov != v {
			return false
		}
	}
	if len(r.udp) != len(o.udp) {
		return false
	}
	for i := range r.udp {
		a, b := r.udp[i], o.udp[i]
		if a.port != b.port || a.nodePort != b.nodePort || len(a.ips) != len(b.ips) || len(a.serving) != len(b.serving) {
			return false
		}
		for j := range a.ips {
			if a.ips[j] != b.ips[j] {
				return false
			}
		}
		for ip := range a.serving {
			if !b.serving[ip] {
				return false
			}
		}
	}
	return true
}

// renderer turns Services and their endpoints into nftables objects.
type renderer struct {
	nodeName    string
	zone        string
	clusterCIDR netip.Prefix
	nodeIPs     []netip.Addr // IPv4 only
}

// render returns the objects for one Service, nil if it gets none.
func (r *renderer) render(ports []*servicePort, byName map[string]*discoveryv1.EndpointSlice) *rendered {
	if len(ports) == 0 {
		return nil
	}
	out := &rendered{
		chains: map[string]*chainDef{},
		sets:   map[string]setDef{},
		elems:  map[elemKey]elemVal{},
	}
	eps := endpointsByPort(byName, r.nodeName)
	for _, sp := range ports {
		r.renderPort(out, sp, eps[slicePortKey{name: sp.name.port, protocol: sp.name.protocol}])
	}
	return out
}

func (r *renderer) renderPort(out *rendered, sp *servicePort, eps []*endpoint) {
	c := categorize(eps, sp, r.zone)
	base := portChainBase(sp)
	clusterChain := clusterChainPrefix + base
	localChain := localChainPrefix + base
	externalChain := externalChainPrefix + base
	fwChain := firewallChainPrefix + base
	name := sp.name.String()
	port := strconv.Itoa(int(sp.port))

	chain := func(name string) *chainDef {
		if out.chains[name] == nil {
			out.chains[name] = &chainDef{}
		}
		return out.chains[name]
	}
	elem := func(container string, value, comment string, key ...string) {
		out.elems[elemKey{container, strings.Join(key, " . ")}] = elemVal{value, comment}
	}

	if sp.proto == "udp" {
		t := udpTarget{port: sp.port, nodePort: sp.nodePort, serving: map[netip.Addr]bool{}}
		t.ips = append(append(append(t.ips, sp.clusterIP), sp.externalIPs...), sp.lbIPs...)
		for _, e := range eps {
			if e.serving {
				t.serving[e.ip] = true
			}
		}
		out.udp = append(out.udp, t)
	}

	usesCluster := len(c.cluster) > 0 && sp.usesClusterEndpoints()
	usesLocal := len(c.local) > 0 && sp.usesLocalEndpoints()

	internalChain, hasInternal := clusterChain, c.any
	if sp.internalLocal {
		internalChain, hasInternal = localChain, len(c.local) > 0
	}
	externalPolicyChain, hasExternal := clusterChain, c.any
	if sp.externalLocal {
		externalPolicyChain, hasExternal = localChain, len(c.local) > 0
	}
	usesExternal := c.any && sp.externallyAccessible()

	// What happens to traffic that finds no endpoint: rejected when the
	// service has none at all, dropped when it only lacks local ones.
	internalVerdict, externalVerdict := "drop", "drop"
	if !c.any {
		internalVerdict, externalVerdict = "goto "+rejectChain, "goto "+rejectChain
	}

	elem(clusterIPsSet, "", "", sp.clusterIP.String())
	if hasInternal {
		elem(serviceIPsMap, "goto "+internalChain, "", sp.clusterIP.String(), sp.proto, port)
	} else {
		elem(noEndpointServicesMap, internalVerdict, name, sp.clusterIP.String(), sp.proto, port)
	}
	for _, ip := range sp.externalIPs {
		if c.any {
			elem(serviceIPsMap, "goto "+externalChain, "", ip.String(), sp.proto, port)
		}
		if !hasExternal {
			elem(noEndpointServicesMap, externalVerdict, name, ip.String(), sp.proto, port)
		}
	}
	usesFirewall := len(sp.lbIPs) > 0 && len(sp.sourceRanges) > 0
	for _, ip := range sp.lbIPs {
		if c.any {
			elem(serviceIPsMap, "goto "+externalChain, "", ip.String(), sp.proto, port)
		}
		if usesFirewall {
			elem(firewallIPsMap, "goto "+fwChain, "", ip.String(), sp.proto, port)
		}
		if !hasExternal {
			elem(noEndpointServicesMap, externalVerdict, name, ip.String(), sp.proto, port)
		}
	}
	if sp.nodePort != 0 {
		np := strconv.Itoa(int(sp.nodePort))
		if c.any {
			elem(serviceNodePortsMap, "goto "+externalChain, "", sp.proto, np)
		}
		if !hasExternal {
			elem(noEndpointNodePortsMap, externalVerdict, name, sp.proto, np)
		}
	}

	// Traffic to the ClusterIP from outside the pod network is
	// masqueraded, so that replies come back through this node.
	if hasInternal {
		chain(internalChain).add("",
			"ip daddr", sp.clusterIP, sp.proto, "dport", sp.port,
			"ip saddr !=", r.clusterCIDR, "jump", markMasqChain)
	}

	if usesExternal {
		ext := chain(externalChain)
		if !sp.externalLocal {
			// Endpoints may be on other nodes: masquerade.
			ext.add("", "jump", markMasqChain)
		} else {
			// Pods and the node itself reach external addresses as if
			// through a load balancer: any endpoint, Cluster policy.
			ext.add("short-circuit pod traffic", "ip saddr", r.clusterCIDR, "goto", clusterChain)
			ext.add("masquerade local traffic", "fib saddr type local", "jump", markMasqChain)
			ext.add("short-circuit local traffic", "fib saddr type local", "goto", clusterChain)
		}
		if hasExternal {
			ext.add("", "goto", externalPolicyChain)
		}
	}

	if usesFirewall {
		sources := make([]string, 0, len(sp.sourceRanges))
		fromNode := false
		for _, p := range sp.sourceRanges {
			sources = append(sources, p.String())
			for _, ip := range r.nodeIPs {
				fromNode = fromNode || p.Contains(ip)
			}
		}
		// A node reaching a local VIP uses the VIP as source.
		if fromNode {
			for _, ip := range sp.lbIPs {
				sources = append(sources, ip.String())
			}
		}
		chain(fwChain).add("", "ip saddr != {", strings.Join(sources, " , "), "} drop")
	}

	deps := ""
	if sp.affinitySeconds > 0 {
		deps = fmt.Sprintf("affinity %ds", sp.affinitySeconds)
		for _, e := range c.reachable {
			out.sets[affinitySetPrefix+endpointChainBase(sp, e)] = setDef{timeoutSeconds: sp.affinitySeconds}
		}
	}
	if usesCluster {
		r.balance(chain(clusterChain), sp, c.cluster, deps)
	}
	if usesLocal {
		r.balance(chain(localChain), sp, c.local, deps)
	}
	for _, e := range c.reachable {
		eb := endpointChainBase(sp, e)
		ch := chain(endpointChainPrefix + eb)
		ch.deps = deps
		// Hairpin: a pod reaching itself through the service.
		ch.add("", "ip saddr", e.ip, "jump", markMasqChain)
		if sp.affinitySeconds > 0 {
			ch.add("", "update @"+affinitySetPrefix+eb, "{ ip saddr }")
		}
		ch.add("", "meta l4proto", sp.proto, "dnat to", e.String())
	}
}

// balance writes the rules sending traffic from a policy chain to its
// endpoints: the affinity matches first, then a random pick.
func (r *renderer) balance(ch *chainDef, sp *servicePort, eps []*endpoint, deps string) {
	ch.deps = deps
	if sp.affinitySeconds > 0 {
		for _, e := range eps {
			eb := endpointChainBase(sp, e)
			ch.add("", "ip saddr @"+affinitySetPrefix+eb, "goto", endpointChainPrefix+eb)
		}
	}
	vmap := make([]string, 0, len(eps))
	for i, e := range eps {
		vmap = append(vmap, fmt.Sprintf("%d : goto %s%s", i, endpointChainPrefix, endpointChainBase(sp, e)))
	}
	ch.add("", "numgen random mod", len(eps), "vmap {", strings.Join(vmap, " , "), "}")
}

// Per-service names are "PREFIX-HASH-namespace/name/protocol/port" (and
// "__ip/port" for an endpoint): readable, and unique through the hash
// even when truncated. Only these names contain "/".
const maxBaseLen = knftables.NameLengthMax - 16

func portChainBase(sp *servicePort) string {
	return hashName(fmt.Sprintf("%s/%s/%s/%s", sp.name.svc.Namespace, sp.name.svc.Name, sp.proto, sp.name.port))
}

func endpointChainBase(sp *servicePort, e *endpoint) string {
	return hashName(fmt.Sprintf("%s/%s/%s/%s__%s/%d", sp.name.svc.Namespace, sp.name.svc.Name, sp.proto, sp.name.port, e.ip, e.port))
}

func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	name = base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + name
	if len(name) > maxBaseLen {
		name = name[:maxBaseLen-3] + "..."
	}
	return name
}

// isServiceChain tells per-service chains from the fixed ones.
func isServiceChain(name string) bool {
	return strings.Contains(name, "/")
}
