package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// NodeInfoLister reads the nodes of a scheduling cycle.
type NodeInfoLister interface {
	// List returns every node, in the order nodes are tried.
	List() []*NodeInfo
	// Get returns one node.
	Get(name string) (*NodeInfo, error)
	// HavePodsWithAffinityList returns the nodes with pods that have
	// inter-pod affinity or anti-affinity.
	HavePodsWithAffinityList() []*NodeInfo
	// HavePodsWithRequiredAntiAffinityList returns the nodes with pods
	// that have required anti-affinity.
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
}

var _ NodeInfoLister = (*Snapshot)(nil)

// Snapshot is the state of the nodes a scheduling cycle works on: a copy
// of the cache taken at the start of the cycle, updated incrementally.
type Snapshot struct {
	nodes          map[string]*NodeInfo
	pos            map[string]int // index in list
	list           []*NodeInfo
	withAffinity   []*NodeInfo
	withRequiredAA []*NodeInfo
	affinityStale  bool
}

// NewEmptySnapshot returns a snapshot without nodes.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodes: map[string]*NodeInfo{}, pos: map[string]int{}}
}

// NewSnapshot builds a snapshot from pods and nodes (for tests); pods on
// unknown nodes are ignored.
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	s := NewEmptySnapshot()
	order := make([]string, 0, len(nodes))
	for _, n := range nodes {
		s.nodes[n.Name] = NewNodeInfo(n)
		order = append(order, n.Name)
	}
	for _, p := range pods {
		if ni := s.nodes[p.Spec.NodeName]; ni != nil {
			ni.AddPodInfo(NewPodInfo(p))
		}
	}
	s.Rebuild(order)
	return s
}

// Set replaces (or adds) a node's information. A node new to the snapshot
// is listed only after Rebuild; call Commit (or Rebuild) after changes.
func (s *Snapshot) Set(ni *NodeInfo) {
	name := ni.Node().Name
	if old, ok := s.nodes[name]; ok && hasAffinityPods(old) {
		s.affinityStale = true
	}
	if hasAffinityPods(ni) {
		s.affinityStale = true
	}
	s.nodes[name] = ni
	if i, ok := s.pos[name]; ok {
		s.list[i] = ni
	}
}

func hasAffinityPods(ni *NodeInfo) bool {
	return len(ni.PodsWithAffinity) > 0 || len(ni.PodsWithRequiredAntiAffinity) > 0
}

// Delete removes a node. Call Rebuild afterwards.
func (s *Snapshot) Delete(name string) { delete(s.nodes, name) }

// Rebuild orders the node list as order (names unknown to the snapshot
// are skipped) and recomputes the affinity lists.
func (s *Snapshot) Rebuild(order []string) {
	s.list = s.list[:0]
	clear(s.pos)
	for _, name := range order {
		if ni, ok := s.nodes[name]; ok {
			s.pos[name] = len(s.list)
			s.list = append(s.list, ni)
		}
	}
	s.affinityStale = true
	s.Commit()
}

// Commit recomputes the affinity lists after Set when needed.
func (s *Snapshot) Commit() {
	if !s.affinityStale {
		return
	}
	s.affinityStale = false
	s.withAffinity, s.withRequiredAA = s.withAffinity[:0], s.withRequiredAA[:0]
	for _, ni := range s.list {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withRequiredAA = append(s.withRequiredAA, ni)
		}
	}
}

// NumNodes is the number of nodes.
func (s *Snapshot) NumNodes() int { return len(s.list) }

// List returns the nodes in the order they are tried.
func (s *Snapshot) List() []*NodeInfo { return s.list }

// Get returns one node.
func (s *Snapshot) Get(name string) (*NodeInfo, error) {
	if ni, ok := s.nodes[name]; ok && ni.Node() != nil {
		return ni, nil
	}
	return nil, fmt.Errorf("nodeinfo not found for node name %q", name)
}

// HavePodsWithAffinityList returns the nodes with pods with affinity.
func (s *Snapshot) HavePodsWithAffinityList() []*NodeInfo { return s.withAffinity }

// HavePodsWithRequiredAntiAffinityList returns the nodes with pods with
// required anti-affinity.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*NodeInfo { return s.withRequiredAA }
