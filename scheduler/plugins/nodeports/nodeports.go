package nodeports

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodePorts"

// ErrReason is the reason for a node whose ports are taken.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

const preFilterKey framework.StateKey = "PreFilter" + Name

// NodePorts filters nodes by free host ports.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = NodePorts{}
	_ framework.FilterPlugin      = NodePorts{}
	_ framework.EnqueueExtensions = NodePorts{}
)

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return NodePorts{}, nil }

// Name returns the plugin's name.
func (NodePorts) Name() string { return Name }

type preFilterState []v1.ContainerPort

func (s preFilterState) Clone() framework.StateData { return s }

// PreFilter collects the pod's host ports; without any, Filter is skipped.
func (NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	ports := framework.HostPorts(pod)
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, preFilterState(ports))
	return nil, nil
}

// PreFilterExtensions returns nil.
func (NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Fits is true when the ports are free on the node.
func Fits(ports []v1.ContainerPort, ni *framework.NodeInfo) bool {
	for _, p := range ports {
		if ni.UsedPorts.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return false
		}
	}
	return true
}

// Filter rejects nodes where a requested host port is taken.
func (NodePorts) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	var ports []v1.ContainerPort
	if d, err := state.Read(preFilterKey); err == nil {
		ports = d.(preFilterState)
	} else {
		ports = framework.HostPorts(pod)
	}
	if !Fits(ports, ni) {
		return framework.NewStatus(framework.Unschedulable, ErrReason)
	}
	return nil
}

// EventsToRegister: pods deleted, nodes added.
func (NodePorts) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.Pod, ActionType: framework.Delete},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
}
