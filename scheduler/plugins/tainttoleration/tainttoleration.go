package tainttoleration

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "TaintToleration"

const preScoreKey framework.StateKey = "PreScore" + Name

// TaintToleration filters and scores nodes by their taints.
type TaintToleration struct{}

var (
	_ framework.FilterPlugin      = TaintToleration{}
	_ framework.PreScorePlugin    = TaintToleration{}
	_ framework.ScorePlugin       = TaintToleration{}
	_ framework.ScoreExtensions   = TaintToleration{}
	_ framework.EnqueueExtensions = TaintToleration{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return TaintToleration{}, nil }

// Name returns the plugin's name.
func (TaintToleration) Name() string { return Name }

// Filter rejects a node with an untolerated NoSchedule/NoExecute taint.
func (TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	taint, found := framework.FindMatchingUntoleratedTaint(ni.Node().Spec.Taints, pod.Spec.Tolerations, framework.DoNotScheduleTaint)
	if !found {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value))
}

type preScoreState struct{ tolerations []v1.Toleration }

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore keeps the tolerations that apply to PreferNoSchedule taints.
func (TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	s := &preScoreState{}
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			s.tolerations = append(s.tolerations, t)
		}
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score counts the node's PreferNoSchedule taints the pod does not
// tolerate (normalized in reverse: fewer is better).
func (TaintToleration) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var tolerations []v1.Toleration
	if d, err := state.Read(preScoreKey); err == nil {
		tolerations = d.(*preScoreState).tolerations
	} else {
		tolerations = pod.Spec.Tolerations
	}
	var n int64
	taints := ni.Node().Spec.Taints
	for i := range taints {
		if taints[i].Effect == v1.TaintEffectPreferNoSchedule && !framework.TolerationsTolerateTaint(tolerations, &taints[i]) {
			n++
		}
	}
	return n, nil
}

// ScoreExtensions returns the plugin.
func (p TaintToleration) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore maps the counts to [0, 100], fewest taints highest.
func (TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
}

// EventsToRegister: nodes added or their taints changed, the pod's
// tolerations.
func (TaintToleration) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint},
		{Resource: framework.Pod, ActionType: framework.UpdatePodTolerations},
	}
}
