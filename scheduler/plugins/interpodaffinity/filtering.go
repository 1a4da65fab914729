package interpodaffinity

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
)

// Reasons.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

type topologyPair struct {
	key, value string
}

// pairCounts counts matching pods per topology pair.
type pairCounts map[topologyPair]int64

func (m pairCounts) add(o pairCounts) {
	for k, v := range o {
		m[k] += v
	}
}

func (m pairCounts) clone() pairCounts {
	c := make(pairCounts, len(m))
	c.add(m)
	return c
}

func (m pairCounts) bump(p topologyPair, v int64) {
	m[p] += v
	if m[p] == 0 {
		delete(m, p)
	}
}

// updateWithAffinityTerms counts pod on node for every term, if it matches
// all of them.
func (m pairCounts) updateWithAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod, node *v1.Node, v int64) {
	if !matchesAll(terms, pod) {
		return
	}
	for i := range terms {
		if value, ok := node.Labels[terms[i].TopologyKey]; ok {
			m.bump(topologyPair{terms[i].TopologyKey, value}, v)
		}
	}
}

// updateWithAntiAffinityTerms counts pod on node for each term it matches.
func (m pairCounts) updateWithAntiAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, v int64) {
	for i := range terms {
		if terms[i].Matches(pod, nsLabels) {
			if value, ok := node.Labels[terms[i].TopologyKey]; ok {
				m.bump(topologyPair{terms[i].TopologyKey, value}, v)
			}
		}
	}
}

func matchesAll(terms []framework.AffinityTerm, pod *v1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return true
}

// preFilterState holds the counts the filter checks.
type preFilterState struct {
	// existingAntiAffinity: existing pods whose required anti-affinity
	// selects the incoming pod, by their topology pair.
	existingAntiAffinity pairCounts
	// affinity and antiAffinity: existing pods selected by the incoming
	// pod's required (anti-)affinity terms, by topology pair.
	affinity, antiAffinity pairCounts
	podInfo                *framework.PodInfo
	nsLabels               labels.Set
}

func (s *preFilterState) Clone() framework.StateData {
	return &preFilterState{
		existingAntiAffinity: s.existingAntiAffinity.clone(),
		affinity:             s.affinity.clone(),
		antiAffinity:         s.antiAffinity.clone(),
		podInfo:              s.podInfo,
		nsLabels:             s.nsLabels,
	}
}

func (s *preFilterState) updateWithPod(pi *framework.PodInfo, node *v1.Node, v int64) {
	s.existingAntiAffinity.updateWithAntiAffinityTerms(pi.RequiredAntiAffinityTerms, s.podInfo.Pod, s.nsLabels, node, v)
	s.affinity.updateWithAffinityTerms(s.podInfo.RequiredAffinityTerms, pi.Pod, node, v)
	s.antiAffinity.updateWithAntiAffinityTerms(s.podInfo.RequiredAntiAffinityTerms, pi.Pod, nil, node, v)
}

// PreFilter counts the pods the filter needs; when neither the pod nor any
// existing pod has required (anti-)affinity, Filter is skipped.
func (pl *InterPodAffinity) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	lister := pl.h.SnapshotSharedLister()
	withAA := lister.HavePodsWithRequiredAntiAffinityList()
	src := state.PodInfoOf(pod)
	if src.ParseError != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %+v", src.ParseError))
	}
	if len(src.RequiredAffinityTerms) == 0 && len(src.RequiredAntiAffinityTerms) == 0 && len(withAA) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	pi := *src
	pi.RequiredAffinityTerms = pl.mergeNamespaces(src.RequiredAffinityTerms)
	pi.RequiredAntiAffinityTerms = pl.mergeNamespaces(src.RequiredAntiAffinityTerms)
	s := &preFilterState{podInfo: &pi, nsLabels: pl.namespaceLabels(pod.Namespace)}

	var mu sync.Mutex
	s.existingAntiAffinity = pairCounts{}
	pl.h.Parallelizer().Until(ctx, len(withAA), func(i int) {
		node := withAA[i].Node()
		m := pairCounts{}
		for _, existing := range withAA[i].PodsWithRequiredAntiAffinity {
			m.updateWithAntiAffinityTerms(existing.RequiredAntiAffinityTerms, pod, s.nsLabels, node, 1)
		}
		if len(m) > 0 {
			mu.Lock()
			s.existingAntiAffinity.add(m)
			mu.Unlock()
		}
	})

	s.affinity, s.antiAffinity = pairCounts{}, pairCounts{}
	if len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0 {
		all := lister.List()
		pl.h.Parallelizer().Until(ctx, len(all), func(i int) {
			node := all[i].Node()
			aff, anti := pairCounts{}, pairCounts{}
			for _, existing := range all[i].Pods {
				aff.updateWithAffinityTerms(pi.RequiredAffinityTerms, existing.Pod, node, 1)
				anti.updateWithAntiAffinityTerms(pi.RequiredAntiAffinityTerms, existing.Pod, nil, node, 1)
			}
			if len(aff) > 0 || len(anti) > 0 {
				mu.Lock()
				s.affinity.add(aff)
				s.antiAffinity.add(anti)
				mu.Unlock()
			}
		})
	}
	if len(s.existingAntiAffinity) == 0 && len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions returns the plugin.
func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts a pod added to a node in a what-if evaluation.
func (pl *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, added *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	d.(*preFilterState).updateWithPod(added, ni.Node(), 1)
	return nil
}

// RemovePod uncounts a pod removed from a node in a what-if evaluation.
func (pl *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, removed *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	d.(*preFilterState).updateWithPod(removed, ni.Node(), -1)
	return nil
}

// Filter checks the pod's required affinity, its required anti-affinity,
// and the required anti-affinity of the pods already placed.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if !satisfyAffinity(s, node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	if !satisfyAntiAffinity(s, node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	}
	if !satisfyExistingAntiAffinity(s, node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	}
	return nil
}

func satisfyExistingAntiAffinity(s *preFilterState, node *v1.Node) bool {
	if len(s.existingAntiAffinity) == 0 {
		return true
	}
	for k, v := range node.Labels {
		if s.existingAntiAffinity[topologyPair{k, v}] > 0 {
			return false
		}
	}
	return true
}

func satisfyAntiAffinity(s *preFilterState, node *v1.Node) bool {
	if len(s.antiAffinity) == 0 {
		return true
	}
	for _, t := range s.podInfo.RequiredAntiAffinityTerms {
		if v, ok := node.Labels[t.TopologyKey]; ok && s.antiAffinity[topologyPair{t.TopologyKey, v}] > 0 {
			return false
		}
	}
	return true
}

// satisfyAffinity needs, for every term, a matching pod in the node's
// domain; the first pod of a group whose terms select itself may go
// anywhere with the topology keys when no pod matches yet.
func satisfyAffinity(s *preFilterState, node *v1.Node) bool {
	exist := true
	for _, t := range s.podInfo.RequiredAffinityTerms {
		v, ok := node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			exist = false
		}
	}
	if !exist {
		return len(s.affinity) == 0 && matchesAll(s.podInfo.RequiredAffinityTerms, s.podInfo.Pod)
	}
	return true
}
