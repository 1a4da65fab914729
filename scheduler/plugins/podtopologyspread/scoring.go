package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"berth/scheduler/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

// preScoreState holds, for each ScheduleAnyway constraint, the matching
// pods per topology value of the feasible nodes (hostname constraints are
// counted per node at Score), and each constraint's weight.
type preScoreState struct {
	constraints []constraint
	ignored     sets.Set[string] // nodes lacking a topology key
	counts      []map[string]*int64
	// hostCounts holds the per-node counts of hostname constraints.
	hostCounts []*memoEntry
	weights    []float64
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore prepares the counts; without soft constraints, Score is
// skipped.
func (pl *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	all := pl.h.SnapshotSharedLister().List()
	if len(all) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs, err := pl.constraints(pod, v1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	// System defaults do not require every key, so that nodes without a
	// zone still spread by hostname.
	requireAll := len(pod.Spec.TopologySpreadConstraints) > 0 || !pl.systemDefaulted
	s := &preScoreState{constraints: cs, ignored: sets.New[string](), counts: make([]map[string]*int64, len(cs)), weights: make([]float64, len(cs))}
	sizes := make([]int, len(cs))
	for i := range cs {
		s.counts[i] = map[string]*int64{}
	}
	for _, ni := range filtered {
		node := ni.Node()
		if requireAll && !nodeHasKeys(node.Labels, cs) {
			s.ignored.Insert(node.Name)
			continue
		}
		for i := range cs {
			if cs[i].TopologyKey == v1.LabelHostname {
				continue
			}
			v := node.Labels[cs[i].TopologyKey]
			if s.counts[i][v] == nil {
				s.counts[i][v] = new(int64)
				sizes[i]++
			}
		}
	}
	for i := range cs {
		size := sizes[i]
		if cs[i].TopologyKey == v1.LabelHostname {
			size = len(filtered) - s.ignored.Len()
		}
		s.weights[i] = math.Log(float64(size + 2))
	}
	req := framework.GetRequiredNodeAffinity(pod)
	s.hostCounts = make([]*memoEntry, len(cs))
	for i := range cs {
		if cs[i].TopologyKey == v1.LabelHostname {
			_, s.hostCounts[i] = pl.counter.counts(ctx, pl.h.Parallelizer(), filtered, len(all), cs[i].Selector, pod.Namespace)
			continue
		}
		counts, _ := pl.counter.counts(ctx, pl.h.Parallelizer(), all, len(all), cs[i].Selector, pod.Namespace)
		for n, ni := range all {
			node := ni.Node()
			if requireAll && !nodeHasKeys(node.Labels, cs) {
				continue
			}
			value, ok := node.Labels[cs[i].TopologyKey]
			if !ok || !cs[i].includes(pod, node, req) {
				continue
			}
			if count := s.counts[i][value]; count != nil {
				*count += int64(counts[n])
			}
		}
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score sums, over the constraints, the matching pods in the node's domain
// (weighted by the number of domains) plus maxSkew−1; fewer is better.
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	node := ni.Node()
	if s.ignored.Has(node.Name) {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		value, ok := node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var n int64
		if c.TopologyKey == v1.LabelHostname {
			if k, ok := s.hostCounts[i].get(ni); ok {
				n = int64(k)
			} else {
				n = int64(countMatching(ni.Pods, c.Selector, pod.Namespace))
			}
		} else if p := s.counts[i][value]; p != nil {
			n = *p
		}
		score += float64(n)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions returns the plugin.
func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore turns the sums into [0, 100], the smallest highest;
// ignored nodes get 0.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	const invalid = -1
	var lo int64 = math.MaxInt64
	var hi int64
	for i := range scores {
		if s.ignored.Has(scores[i].Name) {
			scores[i].Score = invalid
			continue
		}
		lo = min(lo, scores[i].Score)
		hi = max(hi, scores[i].Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == invalid:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
