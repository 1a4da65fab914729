package framework

import (
	"reflect"

	v1 "k8s.io/api/core/v1"
)

// EventResource is the kind of object a cluster event is about.
type EventResource string

// The resources whose changes may make pending pods schedulable.
const (
	Pod       EventResource = "Pod"
	Node      EventResource = "Node"
	Namespace EventResource = "Namespace"
	WildCard  EventResource = "*"
)

// ActionType is what happened to the object (a bit set).
type ActionType int64

// The actions the queue distinguishes.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	UpdateNodeAnnotation
	UpdatePodLabel
	UpdatePodScaleDown
	UpdatePodTolerations
	UpdatePodSchedulingGatesEliminated

	All ActionType = 1<<iota - 1

	UpdateNode = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition | UpdateNodeAnnotation
	UpdatePod  = UpdatePodLabel | UpdatePodScaleDown | UpdatePodTolerations | UpdatePodSchedulingGatesEliminated
)

// ClusterEvent is a change of the cluster.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
	// Label names the event in logs.
	Label string
}

// Match is true when a plugin that registered e cares about the incoming
// event.
func (e ClusterEvent) Match(incoming ClusterEvent) bool {
	return (e.Resource == WildCard || incoming.Resource == WildCard || e.Resource == incoming.Resource) && e.ActionType&incoming.ActionType != 0
}

// EventNodeAdd is a node added.
func EventNodeAdd() ClusterEvent {
	return ClusterEvent{Resource: Node, ActionType: Add, Label: "NodeAdd"}
}

// EventNodeDelete is a node deleted.
func EventNodeDelete() ClusterEvent {
	return ClusterEvent{Resource: Node, ActionType: Delete, Label: "NodeDelete"}
}

// EventAssignedPodAdd is a pod bound to a node (or found bound).
func EventAssignedPodAdd() ClusterEvent {
	return ClusterEvent{Resource: Pod, ActionType: Add, Label: "AssignedPodAdd"}
}

// EventAssignedPodDelete is a pod on a node deleted (or an assumed pod
// forgotten).
func EventAssignedPodDelete() ClusterEvent {
	return ClusterEvent{Resource: Pod, ActionType: Delete, Label: "AssignedPodDelete"}
}

// EventUnschedulableTimeout moves pods that waited too long.
func EventUnschedulableTimeout() ClusterEvent {
	return ClusterEvent{Resource: WildCard, ActionType: All, Label: "UnschedulableTimeout"}
}

// NodeUpdateEvents returns the events a node update amounts to.
func NodeUpdateEvents(old, cur *v1.Node) []ClusterEvent {
	var out []ClusterEvent
	add := func(a ActionType, label string) {
		out = append(out, ClusterEvent{Resource: Node, ActionType: a, Label: label})
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		add(UpdateNodeTaint, "NodeSpecUnschedulableChange")
	}
	if !reflect.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		add(UpdateNodeAllocatable, "NodeAllocatableChange")
	}
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		add(UpdateNodeLabel, "NodeLabelChange")
	}
	if !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		add(UpdateNodeTaint, "NodeTaintChange")
	}
	if conditionsChanged(old.Status.Conditions, cur.Status.Conditions) {
		add(UpdateNodeCondition, "NodeConditionChange")
	}
	if !reflect.DeepEqual(old.Annotations, cur.Annotations) {
		add(UpdateNodeAnnotation, "NodeAnnotationChange")
	}
	return out
}

// conditionsChanged compares the conditions' statuses, ignoring heartbeats.
func conditionsChanged(a, b []v1.NodeCondition) bool {
	if len(a) != len(b) {
		return true
	}
	m := make(map[v1.NodeConditionType]v1.ConditionStatus, len(a))
	for _, c := range a {
		m[c.Type] = c.Status
	}
	for _, c := range b {
		if s, ok := m[c.Type]; !ok || s != c.Status {
			return true
		}
	}
	return false
}

// AssignedPodUpdateEvent returns the event an update of a pod on a node
// amounts to, if any: its labels changed, or its requests shrank.
func AssignedPodUpdateEvent(old, cur *PodInfo) (ClusterEvent, bool) {
	if !reflect.DeepEqual(old.Pod.Labels, cur.Pod.Labels) {
		return ClusterEvent{Resource: Pod, ActionType: UpdatePodLabel, Label: "AssignedPodUpdate"}, true
	}
	o, c := old.Requests, cur.Requests
	if c.MilliCPU < o.MilliCPU || c.Memory < o.Memory || c.EphemeralStorage < o.EphemeralStorage {
		return ClusterEvent{Resource: Pod, ActionType: UpdatePodScaleDown, Label: "AssignedPodUpdate"}, true
	}
	for name, n := range o.ScalarResources {
		if c.ScalarResources[name] < n {
			return ClusterEvent{Resource: Pod, ActionType: UpdatePodScaleDown, Label: "AssignedPodUpdate"}, true
		}
	}
	return ClusterEvent{}, false
}
