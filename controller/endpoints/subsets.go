package endpoints

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"math"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	utilnet "k8s.io/utils/net"

	"berth/controller/endpoints/endpointutil"
)

// maxCapacity is the most addresses an Endpoints object holds.
const maxCapacity = 1000

// desiredSubsets are the subsets of a Service's Endpoints for its pods.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var subsets []corev1.EndpointSubset
	tolerateUnready := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, tolerateUnready) {
			continue
		}
		addr, err := podAddress(svc, pod)
		if err != nil {
			continue // no IP of the Service's family
		}
		if endpointutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := tolerateUnready || endpointutil.IsPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			// A headless Service may have no ports.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				subsets = append(subsets, subset(addr, nil, ready))
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := endpointutil.FindPort(pod, sp)
			if err != nil {
				continue
			}
			subsets = append(subsets, subset(addr, &corev1.EndpointPort{
				Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol,
			}, ready))
		}
	}
	return repackSubsets(subsets)
}

func subset(addr corev1.EndpointAddress, port *corev1.EndpointPort, ready bool) corev1.EndpointSubset {
	s := corev1.EndpointSubset{Ports: []corev1.EndpointPort{}}
	if port != nil {
		s.Ports = append(s.Ports, *port)
	}
	if ready {
		s.Addresses = []corev1.EndpointAddress{addr}
	} else {
		s.NotReadyAddresses = []corev1.EndpointAddress{addr}
	}
	return s
}

// podAddress is a pod's address for a Service: its IP of the Service's
// (first) IP family.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, error) {
	ipv6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		ipv6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case endpointutil.IsServiceIPSet(svc):
		ipv6 = utilnet.IsIPv6String(svc.Spec.ClusterIP)
	default:
		ipv6 = utilnet.IsIPv6String(pod.Status.PodIP)
	}
	for _, ip := range pod.Status.PodIPs {
		if utilnet.IsIPv6String(ip.IP) == ipv6 {
			nodeName := pod.Spec.NodeName
			return corev1.EndpointAddress{
				IP:        ip.IP,
				NodeName:  &nodeName,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			}, nil
		}
	}
	return corev1.EndpointAddress{}, fmt.Errorf("failed to find a matching endpoint for service %s", svc.Name)
}

// addressKey identifies an address: the same IP may be two pods'.
type addressKey struct {
	ip  string
	uid types.UID
}

// repackSubsets rewrites subsets in Kubernetes' canonical form: one
// subset per distinct set of addresses, holding all the ports those
// addresses share, sorted. An address not ready on a port is not ready.
func repackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	all := map[addressKey]*corev1.EndpointAddress{}
	byPort := map[corev1.EndpointPort]map[*corev1.EndpointAddress]bool{}
	add := func(addr *corev1.EndpointAddress, port corev1.EndpointPort, ready bool) {
		key := addressKey{ip: addr.IP}
		if addr.TargetRef != nil {
			key.uid = addr.TargetRef.UID
		}
		a := all[key]
		if a == nil {
			c := *addr
			a = &c
			all[key] = a
		}
		if byPort[port] == nil {
			byPort[port] = map[*corev1.EndpointAddress]bool{}
		}
		if wasReady, seen := byPort[port][a]; !seen || wasReady {
			byPort[port][a] = ready
		}
	}
	for i := range subsets {
		ports := subsets[i].Ports
		if len(ports) == 0 {
			ports = []corev1.EndpointPort{{Port: -1}} // keep port-less addresses
		}
		for _, port := range ports {
			for k := range subsets[i].Addresses {
				add(&subsets[i].Addresses[k], port, true)
			}
			for k := range subsets[i].NotReadyAddresses {
				add(&subsets[i].NotReadyAddresses[k], port, false)
			}
		}
	}
	type group struct {
		addrs map[*corev1.EndpointAddress]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	for port, addrs := range byPort {
		key := hashAddresses(addrs)
		g := groups[key]
		if g == nil {
			g = &group{addrs: addrs}
			groups[key] = g
		}
		if port.Port > 0 {
			g.ports = append(g.ports, port)
		}
	}
	out := []corev1.EndpointSubset{}
	for _, g := range groups {
		var s corev1.EndpointSubset
		for addr, ready := range g.addrs {
			if ready {
				s.Addresses = append(s.Addresses, *addr)
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, *addr)
			}
		}
		s.Ports = g.ports
		out = append(out, s)
	}
	return sortSubsets(out)
}

// hashAddresses names a set of addresses with their readiness.
func hashAddresses(addrs map[*corev1.EndpointAddress]bool) string {
	type addrReady struct {
		addr  *corev1.EndpointAddress
		ready bool
	}
	list := make([]addrReady, 0, len(addrs))
	for a, r := range addrs {
		list = append(list, addrReady{a, r})
	}
	sort.Slice(list, func(i, j int) bool { return lessAddress(list[i].addr, list[j].addr) })
	return string(hashObject(list))
}

func lessAddress(a, b *corev1.EndpointAddress) bool {
	if c := bytes.Compare([]byte(a.IP), []byte(b.IP)); c != 0 {
		return c < 0
	}
	if b.TargetRef == nil {
		return false
	}
	if a.TargetRef == nil {
		return true
	}
	return a.TargetRef.UID < b.TargetRef.UID
}

// hashObject is the MD5 of an object's deep printing, which orders ports
// and subsets as Kubernetes does.
func hashObject(obj interface{}) []byte {
	h := md5.New()
	fmt.Fprintf(h, "%v", dump.ForHash(obj))
	return h.Sum(nil)
}

// sortSubsets sorts addresses by IP and pod, and ports and subsets by
// hash.
func sortSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	for i := range subsets {
		s := &subsets[i]
		sort.Slice(s.Addresses, func(a, b int) bool { return lessAddress(&s.Addresses[a], &s.Addresses[b]) })
		sort.Slice(s.NotReadyAddresses, func(a, b int) bool { return lessAddress(&s.NotReadyAddresses[a], &s.NotReadyAddresses[b]) })
		sortByHash(s.Ports)
	}
	sortByHash(subsets)
	return subsets
}

func sortByHash[T any](items []T) {
	hashes := make(map[int][]byte, len(items))
	idx := make([]int, len(items))
	for i := range items {
		idx[i] = i
		hashes[i] = hashObject(items[i])
	}
	sort.SliceStable(idx, func(a, b int) bool { return bytes.Compare(hashes[idx[a]], hashes[idx[b]]) < 0 })
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
}

// truncate keeps at most maxCapacity addresses, ready ones first, each
// subset keeping its share; true if it dropped any.
func truncate(ep *corev1.Endpoints) bool {
	totalReady, totalNotReady := 0, 0
	for _, s := range ep.Subsets {
		totalReady += len(s.Addresses)
		totalNotReady += len(s.NotReadyAddresses)
	}
	if totalReady+totalNotReady <= maxCapacity {
		return false
	}
	truncateReady := totalReady > maxCapacity
	limit, total := maxCapacity-totalReady, totalNotReady
	if truncateReady {
		limit, total = maxCapacity, totalReady
	}
	left := limit
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		keep := int(math.Ceil(float64(n) / float64(total) * float64(limit)))
		if keep > left {
			keep = left
		}
		if truncateReady {
			if len(s.Addresses) > keep {
				s.Addresses = s.Addresses[:keep]
			}
			s.NotReadyAddresses = []corev1.EndpointAddress{}
			left -= len(s.Addresses)
		} else {
			if len(s.NotReadyAddresses) > keep {
				s.NotReadyAddresses = s.NotReadyAddresses[:keep]
			}
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
