package proxy

import (
	"net/netip"

	"sigs.k8s.io/knftables"
)

// baseChain is a chain attached to a netfilter hook.
type baseChain struct {
	name     string
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
}

// baseChains are the table's hooks. The filter chains run before DNAT so
// that they see the service addresses; nft 1.0.6 only takes "dstnat" in
// nat chains, hence the numbers (dstnat-10 and dstnat+10).
var baseChains = []baseChain{
	{"filter-prerouting", knftables.FilterType, knftables.PreroutingHook, "-110"},
	{"filter-input", knftables.FilterType, knftables.InputHook, "-110"},
	{"filter-forward", knftables.FilterType, knftables.ForwardHook, "-110"},
	{"filter-output", knftables.FilterType, knftables.OutputHook, "-110"},
	{"filter-output-post-dnat", knftables.FilterType, knftables.OutputHook, "-90"},
	{"nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
	{"nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
	{"nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
}

// jumps connect the base chains to the fixed regular chains. Rejecting
// is not allowed in prerouting on older kernels, hence the checks in
// input, forward and output.
var jumps = []struct{ from, match, to string }{
	{"filter-input", "ct state new", nodePortEndpointsCheckChain},
	{"filter-input", "ct state new", serviceEndpointsCheckChain},
	{"filter-forward", "ct state new", serviceEndpointsCheckChain},
	{"filter-output", "ct state new", serviceEndpointsCheckChain},
	{"filter-prerouting", "ct state new", firewallCheckChain},
	{"filter-output", "ct state new", firewallCheckChain},
	{"nat-output", "", servicesChain},
	{"nat-prerouting", "", servicesChain},
	{"nat-postrouting", "", masqueradingChain},
	{"filter-forward", "ct state new", clusterIPsCheckChain},
	{"filter-output-post-dnat", "ct state new", clusterIPsCheckChain},
}

// fixedChains are the regular chains every table has.
var fixedChains = []string{
	nodePortEndpointsCheckChain, serviceEndpointsCheckChain, firewallCheckChain,
	servicesChain, masqueradingChain, markMasqChain, clusterIPsCheckChain, rejectChain,
}

// fixedChainNames lists every chain that is not per-service.
func fixedChainNames() []string {
	names := make([]string, 0, len(baseChains)+len(fixedChains))
	for _, bc := range baseChains {
		names = append(names, bc.name)
	}
	return append(names, fixedChains...)
}

// writeBase adds to tx the replacement of the whole table by an empty
// one holding only the fixed objects: whatever a previous run left is
// gone when tx commits, atomically.
func writeBase(tx *knftables.Transaction, nodeIPs []netip.Addr) {
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("rules for the berth service proxy")})

	for _, bc := range baseChains {
		tx.Add(&knftables.Chain{
			Name:     bc.name,
			Type:     knftables.PtrTo(bc.typ),
			Hook:     knftables.PtrTo(bc.hook),
			Priority: knftables.PtrTo(bc.priority),
		})
	}
	for _, name := range fixedChains {
		tx.Add(&knftables.Chain{Name: name})
	}
	for _, j := range jumps {
		tx.Add(&knftables.Rule{Chain: j.from, Rule: knftables.Concat(j.match, "jump", j.to)})
	}

	tx.Add(&knftables.Rule{Chain: markMasqChain, Rule: "mark set mark or " + masqueradeMark})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "mark and " + masqueradeMark + " == 0 return"})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "mark set mark xor " + masqueradeMark})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "masquerade fully-random"})

	tx.Add(&knftables.Set{Name: clusterIPsSet, Type: "ipv4_addr", Comment: knftables.PtrTo("Active ClusterIPs")})
	tx.Add(&knftables.Rule{
		Chain:   clusterIPsCheckChain,
		Rule:    "ip daddr @" + clusterIPsSet + " reject",
		Comment: knftables.PtrTo("Reject traffic to invalid ports of ClusterIPs"),
	})

	tx.Add(&knftables.Set{Name: nodePortIPsSet, Type: "ipv4_addr", Comment: knftables.PtrTo("IPs that accept NodePort traffic")})
	for _, ip := range nodeIPs {
		if ip.IsLoopback() { // localhost NodePorts are not served
			continue
		}
		tx.Add(&knftables.Element{Set: nodePortIPsSet, Key: []string{ip.String()}})
	}

	tx.Add(&knftables.Map{
		Name:    noEndpointServicesMap,
		Type:    "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("vmap to drop or reject packets to services with no endpoints"),
	})
	tx.Add(&knftables.Map{
		Name:    noEndpointNodePortsMap,
		Type:    "inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("vmap to drop or reject packets to service nodeports with no endpoints"),
	})
	tx.Add(&knftables.Rule{Chain: rejectChain, Rule: "reject"})
	tx.Add(&knftables.Rule{
		Chain: serviceEndpointsCheckChain,
		Rule:  "ip daddr . meta l4proto . th dport vmap @" + noEndpointServicesMap,
	})
	tx.Add(&knftables.Rule{
		Chain: nodePortEndpointsCheckChain,
		Rule:  "ip daddr @" + nodePortIPsSet + " meta l4proto . th dport vmap @" + noEndpointNodePortsMap,
	})

	tx.Add(&knftables.Map{
		Name:    firewallIPsMap,
		Type:    "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("destinations that are subject to LoadBalancerSourceRanges"),
	})
	tx.Add(&knftables.Rule{
		Chain: firewallCheckChain,
		Rule:  "ip daddr . meta l4proto . th dport vmap @" + firewallIPsMap,
	})

	tx.Add(&knftables.Map{
		Name:    serviceIPsMap,
		Type:    "ipv4_addr . inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("ClusterIP, ExternalIP and LoadBalancer IP traffic"),
	})
	tx.Add(&knftables.Map{
		Name:    serviceNodePortsMap,
		Type:    "inet_proto . inet_service : verdict",
		Comment: knftables.PtrTo("NodePort traffic"),
	})
	tx.Add(&knftables.Rule{
		Chain: servicesChain,
		Rule:  "ip daddr . meta l4proto . th dport vmap @" + serviceIPsMap,
	})
	tx.Add(&knftables.Rule{
		Chain: servicesChain,
		Rule:  "ip daddr @" + nodePortIPsSet + " meta l4proto . th dport vmap @" + serviceNodePortsMap,
	})
}
