package interpodaffinity

import (
	"context"
	"fmt"
	"math"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

// scoreMap is topology key → value → score.
type scoreMap map[string]map[string]int64

func (m scoreMap) add(o scoreMap) {
	for k, vs := range o {
		if m[k] == nil {
			m[k] = map[string]int64{}
		}
		for v, s := range vs {
			m[k][v] += s
		}
	}
}

func (m scoreMap) processTerm(t *framework.AffinityTerm, weight int32, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, sign int32) {
	if !t.Matches(pod, nsLabels) {
		return
	}
	if v, ok := node.Labels[t.TopologyKey]; ok {
		if m[t.TopologyKey] == nil {
			m[t.TopologyKey] = map[string]int64{}
		}
		m[t.TopologyKey][v] += int64(weight * sign)
	}
}

func (m scoreMap) processTerms(terms []framework.WeightedAffinityTerm, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, sign int32) {
	for i := range terms {
		m.processTerm(&terms[i].AffinityTerm, terms[i].Weight, pod, nsLabels, node, sign)
	}
}

type preScoreState struct {
	scores scoreMap
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore sums, per topology domain, the weights of the preferred terms
// linking the pod and the pods already placed there (both ways), and the
// required affinity terms of placed pods that select it.
func (pl *InterPodAffinity) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	if len(filtered) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	a := pod.Spec.Affinity
	hasPreferred := a != nil && ((a.PodAffinity != nil && len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
	lister := pl.h.SnapshotSharedLister()
	nodes := lister.HavePodsWithAffinityList()
	if hasPreferred {
		nodes = lister.List()
	}
	if len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	src := state.PodInfoOf(pod)
	if src.ParseError != nil {
		return framework.AsStatus(fmt.Errorf("parsing pod: %w", src.ParseError))
	}
	preferred := pl.mergeWeighted(src.PreferredAffinityTerms)
	preferredAnti := pl.mergeWeighted(src.PreferredAntiAffinityTerms)
	nsLabels := pl.namespaceLabels(pod.Namespace)

	total := scoreMap{}
	var mu sync.Mutex
	pl.h.Parallelizer().Until(ctx, len(nodes), func(i int) {
		node := nodes[i].Node()
		if len(node.Labels) == 0 {
			return
		}
		pods := nodes[i].PodsWithAffinity
		if hasPreferred {
			pods = nodes[i].Pods
		}
		m := scoreMap{}
		for _, existing := range pods {
			m.processTerms(preferred, existing.Pod, nil, node, 1)
			m.processTerms(preferredAnti, existing.Pod, nil, node, -1)
			for j := range existing.RequiredAffinityTerms {
				m.processTerm(&existing.RequiredAffinityTerms[j], HardPodAffinityWeight, pod, nsLabels, node, 1)
			}
			m.processTerms(existing.PreferredAffinityTerms, pod, nsLabels, node, 1)
			m.processTerms(existing.PreferredAntiAffinityTerms, pod, nsLabels, node, -1)
		}
		if len(m) > 0 {
			mu.Lock()
			total.add(m)
			mu.Unlock()
		}
	})
	if len(total) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, &preScoreState{scores: total})
	return nil
}

// Score sums the scores of the node's domains.
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	var score int64
	node := ni.Node()
	for key, values := range d.(*preScoreState).scores {
		if v, ok := node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// ScoreExtensions returns the plugin.
func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps the scores linearly from [min, max] to [0, 100].
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(d.(*preScoreState).scores) == 0 {
		return nil
	}
	var lo, hi int64 = math.MaxInt64, math.MinInt64
	for i := range scores {
		lo = min(lo, scores[i].Score)
		hi = max(hi, scores[i].Score)
	}
	diff := hi - lo
	for i := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * float64(scores[i].Score-lo) / float64(diff)
		}
		scores[i].Score = int64(f)
	}
	return nil
}
