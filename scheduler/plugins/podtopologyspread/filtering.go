package podtopologyspread

import (
	"context"
	"maps"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

// preFilterState holds, for each DoNotSchedule constraint, the number of
// matching pods per topology value, and the two smallest counts.
type preFilterState struct {
	constraints []constraint
	paths       []*criticalPaths
	counts      []map[string]int
}

func (s *preFilterState) Clone() framework.StateData {
	c := &preFilterState{constraints: s.constraints, paths: make([]*criticalPaths, len(s.paths)), counts: make([]map[string]int, len(s.counts))}
	for i, p := range s.paths {
		cp := *p
		c.paths[i] = &cp
	}
	for i, m := range s.counts {
		c.counts[i] = maps.Clone(m)
	}
	return c
}

// minMatch is the global minimum for the skew: 0 while there are fewer
// domains than minDomains.
func (s *preFilterState) minMatch(i int, minDomains int32) int {
	if len(s.counts[i]) < int(minDomains) {
		return 0
	}
	return s.paths[i][0].num
}

// criticalPaths keeps the two topology values with the fewest matching
// pods (the first is the minimum).
type criticalPaths [2]struct {
	value string
	num   int
}

func newCriticalPaths() *criticalPaths {
	return &criticalPaths{{num: math.MaxInt32}, {num: math.MaxInt32}}
}

func (p *criticalPaths) update(value string, num int) {
	i := -1
	if value == p[0].value {
		i = 0
	} else if value == p[1].value {
		i = 1
	}
	if i >= 0 {
		p[i].num = num
		if p[0].num > p[1].num {
			p[0], p[1] = p[1], p[0]
		}
		return
	}
	if num < p[0].num {
		p[1] = p[0]
		p[0].value, p[0].num = value, num
	} else if num < p[1].num {
		p[1].value, p[1].num = value, num
	}
}

// PreFilter counts, over all nodes, the pods each DoNotSchedule constraint
// selects per topology value; without constraints, Filter is skipped.
func (pl *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	cs, err := pl.constraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{constraints: cs, paths: make([]*criticalPaths, len(cs)), counts: make([]map[string]int, len(cs))}
	for i := range cs {
		s.counts[i] = map[string]int{}
	}
	nodes := pl.h.SnapshotSharedLister().List()
	req := framework.GetRequiredNodeAffinity(pod)
	for i := range cs {
		counts, _ := pl.counter.counts(ctx, pl.h.Parallelizer(), nodes, len(nodes), cs[i].Selector, pod.Namespace)
		for n, ni := range nodes {
			node := ni.Node()
			if !nodeHasKeys(node.Labels, cs) || !cs[i].includes(pod, node, req) {
				continue
			}
			s.counts[i][node.Labels[cs[i].TopologyKey]] += counts[n]
		}
	}
	for i := range cs {
		s.paths[i] = newCriticalPaths()
		for v, n := range s.counts[i] {
			s.paths[i].update(v, n)
		}
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions returns the plugin.
func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts a pod added to a node in a what-if evaluation.
func (pl *PodTopologySpread) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, added *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.updateWithPod(state, added.Pod, pod, ni.Node(), 1)
}

// RemovePod uncounts a pod removed from a node in a what-if evaluation.
func (pl *PodTopologySpread) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, removed *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.updateWithPod(state, removed.Pod, pod, ni.Node(), -1)
}

func (pl *PodTopologySpread) updateWithPod(state *framework.CycleState, changed, pod *v1.Pod, node *v1.Node, delta int) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	if changed.Namespace != pod.Namespace || node == nil || !nodeHasKeys(node.Labels, s.constraints) {
		return nil
	}
	req := framework.GetRequiredNodeAffinity(pod)
	set := labels.Set(changed.Labels)
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.Selector.Matches(set) || !c.includes(pod, node, req) {
			continue
		}
		v := node.Labels[c.TopologyKey]
		s.counts[i][v] += delta
		s.paths[i].update(v, s.counts[i][v])
	}
	return nil
}

// Filter rejects a node where placing the pod would make a domain exceed
// the others' minimum by more than maxSkew, or that lacks a topology key.
func (pl *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	node := ni.Node()
	set := labels.Set(pod.Labels)
	for i := range s.constraints {
		c := &s.constraints[i]
		value, ok := node.Labels[c.TopologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		self := 0
		if c.Selector.Matches(set) {
			self = 1
		}
		if s.counts[i][value]+self-s.minMatch(i, c.MinDomains) > int(c.MaxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}
