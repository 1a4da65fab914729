package queuesort

import (
	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "PrioritySort"

// PrioritySort orders pods by priority (highest first), then by queue time.
type PrioritySort struct{}

var _ framework.QueueSortPlugin = PrioritySort{}

// New returns the plugin.
func New(framework.Handle) (framework.Plugin, error) { return PrioritySort{}, nil }

// Name returns the plugin's name.
func (PrioritySort) Name() string { return Name }

// Less is true when a goes before b.
func (PrioritySort) Less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := framework.PodPriority(a.Pod), framework.PodPriority(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
}
