package noderesources

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeResourcesFit"

// Scoring strategies.
const (
	LeastAllocated = "LeastAllocated"
	MostAllocated  = "MostAllocated"
)

// Fit filters and scores nodes by resources.
type Fit struct {
	strategy string
}

var (
	_ framework.FilterPlugin      = (*Fit)(nil)
	_ framework.ScorePlugin       = (*Fit)(nil)
	_ framework.EnqueueExtensions = (*Fit)(nil)
)

// New returns a factory for the plugin with a scoring strategy
// (LeastAllocated when empty).
func New(strategy string) framework.PluginFactory {
	return func(framework.Handle) (framework.Plugin, error) {
		switch strategy {
		case "":
			strategy = LeastAllocated
		case LeastAllocated, MostAllocated:
		default:
			return nil, fmt.Errorf("scoring strategy %s is not supported", strategy)
		}
		return &Fit{strategy: strategy}, nil
	}
}

// Name returns the plugin's name.
func (*Fit) Name() string { return Name }

// InsufficientResource is a resource the node lacks for the pod.
type InsufficientResource struct {
	ResourceName v1.ResourceName
	Reason       string
	Requested    int64
	Used         int64
	Capacity     int64
}

// Fits returns what the node lacks to run the pod (nothing: it fits).
func Fits(req *framework.Resource, ni *framework.NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	if len(ni.Pods)+1 > ni.Allocatable.AllowedPodNumber {
		out = append(out, InsufficientResource{ResourceName: v1.ResourcePods, Reason: "Too many pods",
			Requested: 1, Used: int64(len(ni.Pods)), Capacity: int64(ni.Allocatable.AllowedPodNumber)})
	}
	if req.MilliCPU == 0 && req.Memory == 0 && req.EphemeralStorage == 0 && len(req.ScalarResources) == 0 {
		return out
	}
	alloc, used := &ni.Allocatable, &ni.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceCPU, Reason: "Insufficient cpu",
			Requested: req.MilliCPU, Used: used.MilliCPU, Capacity: alloc.MilliCPU})
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceMemory, Reason: "Insufficient memory",
			Requested: req.Memory, Used: used.Memory, Capacity: alloc.Memory})
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceEphemeralStorage, Reason: "Insufficient ephemeral-storage",
			Requested: req.EphemeralStorage, Used: used.EphemeralStorage, Capacity: alloc.EphemeralStorage})
	}
	for name, n := range req.ScalarResources {
		if n == 0 {
			continue
		}
		if n > alloc.ScalarResources[name]-used.ScalarResources[name] {
			out = append(out, InsufficientResource{ResourceName: name, Reason: fmt.Sprintf("Insufficient %v", name),
				Requested: n, Used: used.ScalarResources[name], Capacity: alloc.ScalarResources[name]})
		}
	}
	return out
}

// Filter rejects a node without room for the pod, with one reason per
// missing resource.
func (*Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	pi := state.PodInfoOf(pod)
	missing := Fits(&pi.Requests, ni)
	if len(missing) == 0 {
		return nil
	}
	reasons := make([]string, len(missing))
	for i := range missing {
		reasons[i] = missing[i].Reason
	}
	return framework.NewStatus(framework.Unschedulable, reasons...)
}

// Score rates the node's cpu and memory (weights 1) after placing the pod,
// counting defaults for containers without requests.
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	pi := state.PodInfoOf(pod)
	cpu := resourceScore(f.strategy, ni.NonZeroRequested.MilliCPU+pi.NonZeroCPU, ni.Allocatable.MilliCPU)
	mem := resourceScore(f.strategy, ni.NonZeroRequested.Memory+pi.NonZeroMemory, ni.Allocatable.Memory)
	var sum, weights int64
	if ni.Allocatable.MilliCPU > 0 {
		sum, weights = sum+cpu, weights+1
	}
	if ni.Allocatable.Memory > 0 {
		sum, weights = sum+mem, weights+1
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}

// resourceScore is 100 × the free (LeastAllocated) or used (MostAllocated)
// fraction of one resource.
func resourceScore(strategy string, requested, capacity int64) int64 {
	if capacity == 0 {
		return 0
	}
	if strategy == MostAllocated {
		if requested > capacity {
			requested = capacity
		}
		return requested * framework.MaxNodeScore / capacity
	}
	if requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

// ScoreExtensions returns nil: scores are already in [0, 100].
func (*Fit) ScoreExtensions() framework.ScoreExtensions { return nil }

// EventsToRegister: pods deleted or scaled down, nodes added or grown.
func (*Fit) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.Pod, ActionType: framework.Delete | framework.UpdatePodScaleDown},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
}
