package nodename

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeName"

// ErrReason is the reason for another node.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName filters nodes other than the requested one.
type NodeName struct{}

var (
	_ framework.FilterPlugin      = NodeName{}
	_ framework.EnqueueExtensions = NodeName{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return NodeName{}, nil }

// Name returns the plugin's name.
func (NodeName) Name() string { return Name }

// Fits is true when the pod names no node or this one.
func Fits(pod *v1.Pod, ni *framework.NodeInfo) bool {
	return pod.Spec.NodeName == "" || pod.Spec.NodeName == ni.Node().Name
}

// Filter rejects nodes other than the requested one.
func (NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if Fits(pod, ni) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
}

// EventsToRegister: nodes added.
func (NodeName) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add}}
}
