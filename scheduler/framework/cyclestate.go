package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// StateData is what a plugin keeps in the CycleState.
type StateData interface {
	// Clone copies the data for a what-if evaluation (preemption); data
	// that is never changed after PreFilter may return itself.
	Clone() StateData
}

// StateKey names a plugin's data in the CycleState.
type StateKey string

// CycleState is the state of one pod's scheduling cycle, shared by its
// plugins. Plugins write it in PreFilter and PreScore (one goroutine) and
// read it in Filter and Score (many goroutines).
type CycleState struct {
	storage map[StateKey]StateData
	// PodInfo is the pod being scheduled, with its derived information.
	PodInfo *PodInfo

	skipFilter []bool // by filter plugin index
	skipScore  []bool // by score plugin index
	// nominated is true when some pods are nominated to nodes.
	nominated bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{storage: make(map[StateKey]StateData, 8)}
}

// Read returns a plugin's data.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.storage[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%q not found in the cycle state", key)
}

// Write stores a plugin's data.
func (c *CycleState) Write(key StateKey, v StateData) { c.storage[key] = v }

// Delete removes a plugin's data.
func (c *CycleState) Delete(key StateKey) { delete(c.storage, key) }

// Clone copies the state, cloning every plugin's data.
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	o := &CycleState{
		storage:    make(map[StateKey]StateData, len(c.storage)),
		PodInfo:    c.PodInfo,
		skipFilter: c.skipFilter,
		skipScore:  c.skipScore,
		nominated:  c.nominated,
	}
	for k, v := range c.storage {
		if v == nil {
			o.storage[k] = nil
			continue
		}
		o.storage[k] = v.Clone()
	}
	return o
}

// PodInfoOf returns the derived information of the pod being scheduled:
// the cycle's PodInfo when it is this pod, or freshly derived.
func (c *CycleState) PodInfoOf(pod *v1.Pod) *PodInfo {
	if c != nil && c.PodInfo != nil && c.PodInfo.Pod == pod {
		return c.PodInfo
	}
	return NewPodInfo(pod)
}
