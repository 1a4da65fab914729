package balancedallocation

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeResourcesBalancedAllocation"

// BalancedAllocation scores nodes by the balance of cpu and memory use.
type BalancedAllocation struct{}

var (
	_ framework.PreScorePlugin = BalancedAllocation{}
	_ framework.ScorePlugin    = BalancedAllocation{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return BalancedAllocation{}, nil }

// Name returns the plugin's name.
func (BalancedAllocation) Name() string { return Name }

// PreScore skips best-effort pods (no cpu or memory request), so that they
// do not all pile onto one node.
func (BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	pi := state.PodInfoOf(pod)
	if pi.Requests.MilliCPU == 0 && pi.Requests.Memory == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score is 100 × (1 − the standard deviation of the cpu and memory
// fractions requested on the node with the pod).
func (BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	pi := state.PodInfoOf(pod)
	var fractions [2]float64
	n := 0
	add := func(requested, allocatable int64) {
		if allocatable == 0 {
			return
		}
		f := float64(requested) / float64(allocatable)
		if f > 1 {
			f = 1
		}
		fractions[n] = f
		n++
	}
	add(ni.Requested.MilliCPU+pi.Requests.MilliCPU, ni.Allocatable.MilliCPU)
	add(ni.Requested.Memory+pi.Requests.Memory, ni.Allocatable.Memory)
	std := 0.0
	if n == 2 {
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	}
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}

// ScoreExtensions returns nil.
func (BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }
