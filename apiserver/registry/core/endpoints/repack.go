package endpoints

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// addrKey identifies an endpoint address: the same IP backed by two
// different targets counts twice.
type addrKey struct {
	ip  string
	uid types.UID
}

func keyOf(a *corev1.EndpointAddress) addrKey {
	k := addrKey{ip: a.IP}
	if a.TargetRef != nil {
		k.uid = a.TargetRef.UID
	}
	return k
}

// noPort stands for the (empty) port list of subsets without ports, which
// headless services have.
var noPort = corev1.EndpointPort{Port: -1}

// RepackSubsets returns subsets in canonical form, as Kubernetes stores
// them: each address (identified by IP and target UID) appears once per
// port, addresses offering the same ports share one subset, an address not
// ready on some subset of a port is listed as not ready, and everything is
// sorted. Kubernetes orders subsets and ports by a hash of their contents;
// berth orders them by their contents, which is as stable and easier to
// read.
func RepackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	// The first full address seen for each key, and per port the readiness
	// of each address.
	addrs := map[addrKey]corev1.EndpointAddress{}
	ready := map[corev1.EndpointPort]map[addrKey]bool{}
	note := func(a *corev1.EndpointAddress, p corev1.EndpointPort, isReady bool) {
		k := keyOf(a)
		if _, ok := addrs[k]; !ok {
			addrs[k] = *a
		}
		if ready[p] == nil {
			ready[p] = map[addrKey]bool{}
		}
		if was, seen := ready[p][k]; !seen || was {
			ready[p][k] = isReady
		}
	}
	for i := range subsets {
		ports := subsets[i].Ports
		if len(ports) == 0 {
			ports = []corev1.EndpointPort{noPort}
		}
		for _, p := range ports {
			for j := range subsets[i].Addresses {
				note(&subsets[i].Addresses[j], p, true)
			}
			for j := range subsets[i].NotReadyAddresses {
				note(&subsets[i].NotReadyAddresses[j], p, false)
			}
		}
	}

	// Ports that map to the very same addresses (and readiness) share a
	// subset.
	type group struct {
		members map[addrKey]bool
		ports   []corev1.EndpointPort
	}
	var groups []*group
	for _, p := range slices.SortedFunc(maps.Keys(ready), comparePort) {
		members := ready[p]
		i := slices.IndexFunc(groups, func(g *group) bool { return maps.Equal(g.members, members) })
		if i < 0 {
			groups = append(groups, &group{members: members})
			i = len(groups) - 1
		}
		groups[i].ports = append(groups[i].ports, p)
	}

	var out []corev1.EndpointSubset
	for _, g := range groups {
		var ss corev1.EndpointSubset
		for k, isReady := range g.members {
			if isReady {
				ss.Addresses = append(ss.Addresses, addrs[k])
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, addrs[k])
			}
		}
		slices.SortFunc(ss.Addresses, compareAddress)
		slices.SortFunc(ss.NotReadyAddresses, compareAddress)
		if !(len(g.ports) == 1 && g.ports[0] == noPort) {
			ss.Ports = g.ports
		}
		out = append(out, ss)
	}
	return out
}

func compareAddress(a, b corev1.EndpointAddress) int {
	ka, kb := keyOf(&a), keyOf(&b)
	return cmp.Or(strings.Compare(ka.ip, kb.ip), strings.Compare(string(ka.uid), string(kb.uid)))
}

func comparePort(a, b corev1.EndpointPort) int {
	return cmp.Or(
		cmp.Compare(a.Port, b.Port),
		strings.Compare(string(a.Protocol), string(b.Protocol)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(ptrString(a.AppProtocol), ptrString(b.AppProtocol)),
	)
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
