package nodeaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeAffinity"

// Reasons.
const (
	ErrReasonPod      = "node(s) didn't match Pod's node affinity/selector"
	errReasonConflict = "pod affinity terms conflict"
)

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

// NodeAffinity filters and scores nodes by node affinity.
type NodeAffinity struct{}

var (
	_ framework.PreFilterPlugin   = NodeAffinity{}
	_ framework.FilterPlugin      = NodeAffinity{}
	_ framework.PreScorePlugin    = NodeAffinity{}
	_ framework.ScorePlugin       = NodeAffinity{}
	_ framework.ScoreExtensions   = NodeAffinity{}
	_ framework.EnqueueExtensions = NodeAffinity{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return NodeAffinity{}, nil }

// Name returns the plugin's name.
func (NodeAffinity) Name() string { return Name }

type preFilterState struct {
	required framework.RequiredNodeAffinity
}

func (s *preFilterState) Clone() framework.StateData { return s }

func required(pod *v1.Pod) *v1.NodeSelector {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// PreFilter parses the pod's requirements; required terms that all name
// nodes (matchFields metadata.name In) narrow the nodes to those.
func (NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	req := required(pod)
	if req == nil && pod.Spec.NodeSelector == nil {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, &preFilterState{required: framework.GetRequiredNodeAffinity(pod)})
	if req == nil || len(req.NodeSelectorTerms) == 0 {
		return nil, nil
	}
	var names sets.Set[string]
	for _, t := range req.NodeSelectorTerms {
		var termNames sets.Set[string]
		for _, r := range t.MatchFields {
			if r.Key == metav1.ObjectNameField && r.Operator == v1.NodeSelectorOpIn {
				s := sets.New(r.Values...)
				if termNames == nil {
					termNames = s
				} else {
					termNames = termNames.Intersection(s)
				}
			}
		}
		if termNames == nil {
			return nil, nil // this term may match any node
		}
		names = names.Union(termNames)
	}
	if names != nil && names.Len() == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, errReasonConflict)
	}
	if names.Len() > 0 {
		return &framework.PreFilterResult{NodeNames: names}, nil
	}
	return nil, nil
}

// PreFilterExtensions returns nil.
func (NodeAffinity) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects nodes that do not match.
func (NodeAffinity) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	var req framework.RequiredNodeAffinity
	if d, err := state.Read(preFilterKey); err == nil {
		req = d.(*preFilterState).required
	} else {
		req = framework.GetRequiredNodeAffinity(pod)
	}
	if !req.Match(ni.Node()) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

type preScoreState struct {
	preferred *framework.PreferredSchedulingTerms
}

func (s *preScoreState) Clone() framework.StateData { return s }

func preferred(pod *v1.Pod) []v1.PreferredSchedulingTerm {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// PreScore parses the preferred terms; without any, Score is skipped.
func (NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	terms := preferred(pod)
	if len(terms) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, &preScoreState{preferred: framework.NewPreferredSchedulingTerms(terms)})
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (NodeAffinity) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var p *framework.PreferredSchedulingTerms
	if d, err := state.Read(preScoreKey); err == nil {
		p = d.(*preScoreState).preferred
	} else {
		p = framework.NewPreferredSchedulingTerms(preferred(pod))
	}
	return p.Score(ni.Node()), nil
}

// ScoreExtensions returns the plugin.
func (p NodeAffinity) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore scales the sums to [0, 100].
func (NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}

// EventsToRegister: nodes added or relabelled.
func (NodeAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel | framework.UpdateNodeTaint}}
}
