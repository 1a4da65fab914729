package endpoints

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/utils/net"

	apiendpoints "berth/apiserver/registry/core/endpoints"
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
	return apiendpoints.RepackSubsets(subsets) // the form the API server stores
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
