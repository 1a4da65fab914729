package schedulinggates

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "SchedulingGates"

// SchedulingGates holds gated pods.
type SchedulingGates struct{}

var (
	_ framework.PreEnqueuePlugin  = SchedulingGates{}
	_ framework.EnqueueExtensions = SchedulingGates{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return SchedulingGates{}, nil }

// Name returns the plugin's name.
func (SchedulingGates) Name() string { return Name }

// PreEnqueue rejects a pod while it has scheduling gates.
func (SchedulingGates) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	if len(pod.Spec.SchedulingGates) == 0 {
		return nil
	}
	gates := make([]string, 0, len(pod.Spec.SchedulingGates))
	for _, g := range pod.Spec.SchedulingGates {
		gates = append(gates, g.Name)
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("waiting for scheduling gates: %v", gates))
}

// EventsToRegister: the pod's own update removing its gates.
func (SchedulingGates) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Pod, ActionType: framework.UpdatePodSchedulingGatesEliminated}}
}
