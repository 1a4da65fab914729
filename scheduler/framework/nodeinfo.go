package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// NodeInfo is a node and the pods on it (bound and assumed), with what
// they request in total.
type NodeInfo struct {
	node *v1.Node
	// Pods are the pods on the node.
	Pods []*PodInfo
	// PodsWithAffinity have inter-pod affinity or anti-affinity.
	PodsWithAffinity []*PodInfo
	// PodsWithRequiredAntiAffinity have required anti-affinity terms.
	PodsWithRequiredAntiAffinity []*PodInfo
	// UsedPorts are the host ports the pods claim.
	UsedPorts HostPortInfo
	// Requested is the sum of the pods' requests.
	Requested Resource
	// NonZeroRequested is the sum with defaults for missing cpu/memory.
	NonZeroRequested Resource
	// Allocatable is what the node offers.
	Allocatable Resource
}

// NewNodeInfo returns a node's information with pods on it (for tests and
// snapshots).
func NewNodeInfo(node *v1.Node, pods ...*v1.Pod) *NodeInfo {
	n := &NodeInfo{}
	if node != nil {
		n.SetNode(node)
	}
	for _, p := range pods {
		n.AddPodInfo(NewPodInfo(p))
	}
	return n
}

// Node is the node; nil when pods refer to a node the scheduler has not
// seen (or that was deleted while pods remain on it).
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and its allocatable resources.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
}

// RemoveNode forgets the node, keeping its pods.
func (n *NodeInfo) RemoveNode() { n.node = nil }

// AddPodInfo adds a pod to the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes a pod (by UID) from the node.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	n.PodsWithAffinity = removeFrom(n.PodsWithAffinity, pod)
	n.PodsWithRequiredAntiAffinity = removeFrom(n.PodsWithRequiredAntiAffinity, pod)
	for i, pi := range n.Pods {
		if pi.Pod.UID == pod.UID {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			n.update(pi, -1)
			return nil
		}
	}
	return fmt.Errorf("no pod %s/%s on node %s", pod.Namespace, pod.Name, n.nodeName())
}

func (n *NodeInfo) nodeName() string {
	if n.node == nil {
		return "<nil>"
	}
	return n.node.Name
}

func removeFrom(s []*PodInfo, pod *v1.Pod) []*PodInfo {
	for i, pi := range s {
		if pi.Pod.UID == pod.UID {
			last := len(s) - 1
			s[i] = s[last]
			s[last] = nil
			return s[:last]
		}
	}
	return s
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	n.Requested.AddResource(&pi.Requests, sign)
	n.NonZeroRequested.MilliCPU += sign * pi.NonZeroCPU
	n.NonZeroRequested.Memory += sign * pi.NonZeroMemory
	for _, p := range HostPorts(pi.Pod) {
		if n.UsedPorts == nil {
			n.UsedPorts = HostPortInfo{}
		}
		if sign > 0 {
			n.UsedPorts.Add(p.HostIP, string(p.Protocol), p.HostPort)
		} else {
			n.UsedPorts.Remove(p.HostIP, string(p.Protocol), p.HostPort)
		}
	}
}

// Snapshot returns a copy whose pod lists and totals can change without
// changing n (the pods themselves are shared).
func (n *NodeInfo) Snapshot() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
	}
	if len(n.Pods) > 0 {
		c.Pods = append(make([]*PodInfo, 0, len(n.Pods)+1), n.Pods...)
	}
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	}
	if len(n.UsedPorts) > 0 {
		c.UsedPorts = make(HostPortInfo, len(n.UsedPorts))
		for ip, ports := range n.UsedPorts {
			m := make(map[ProtocolPort]struct{}, len(ports))
			for p := range ports {
				m[p] = struct{}{}
			}
			c.UsedPorts[ip] = m
		}
	}
	return c
}

// ProtocolPort is a protocol and a port.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// HostPortInfo is the host ports in use: host IP → protocol/port.
type HostPortInfo map[string]map[ProtocolPort]struct{}

const bindAll = "0.0.0.0"

func sanitize(ip, protocol string) (string, string) {
	if ip == "" {
		ip = bindAll
	}
	if protocol == "" {
		protocol = string(v1.ProtocolTCP)
	}
	return ip, protocol
}

// Add records a host port in use.
func (h HostPortInfo) Add(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitize(ip, protocol)
	if h[ip] == nil {
		h[ip] = map[ProtocolPort]struct{}{}
	}
	h[ip][ProtocolPort{Protocol: protocol, Port: port}] = struct{}{}
}

// Remove forgets a host port.
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitize(ip, protocol)
	if m := h[ip]; m != nil {
		delete(m, ProtocolPort{Protocol: protocol, Port: port})
		if len(m) == 0 {
			delete(h, ip)
		}
	}
}

// CheckConflict is true when the port is taken: on any IP when ip is
// 0.0.0.0, otherwise on that IP or on 0.0.0.0.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 {
		return false
	}
	ip, protocol = sanitize(ip, protocol)
	pp := ProtocolPort{Protocol: protocol, Port: port}
	if ip == bindAll {
		for _, m := range h {
			if _, ok := m[pp]; ok {
				return true
			}
		}
		return false
	}
	for _, k := range [2]string{bindAll, ip} {
		if _, ok := h[k][pp]; ok {
			return true
		}
	}
	return false
}
