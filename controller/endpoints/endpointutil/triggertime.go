package endpointutil

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TriggerTimeTracker computes the endpoints.kubernetes.io/last-change-
// trigger-time annotation: the time of the earliest change, since the
// previous sync of a Service, that its endpoints reflect — a pod's Ready
// condition transition, or the Service's creation.
type TriggerTimeTracker struct {
	mu     sync.Mutex
	states map[string]serviceState
}

type serviceState struct {
	service time.Time
	pods    map[string]time.Time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{states: map[string]serviceState{}}
}

// Compute returns the trigger time to export for a Service and its pods
// (zero: none), and a commit function that records this state as synced.
// Call commit only once the sync has been written, so that a failed sync
// retried later still reports the changes it did not publish. It must not
// be called concurrently for the same Service.
func (t *TriggerTimeTracker) Compute(namespace string, svc *corev1.Service, pods []*corev1.Pod) (trigger time.Time, commit func()) {
	key := namespace + "/" + svc.Name
	t.mu.Lock()
	state, known := t.states[key]
	t.mu.Unlock()

	var earliest time.Time
	consider := func(ts time.Time) {
		if earliest.IsZero() || ts.Before(earliest) {
			earliest = ts
		}
	}
	podTimes := map[string]time.Time{}
	for _, pod := range pods {
		c := PodReadyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		ts := c.LastTransitionTime.Time
		podTimes[pod.Name] = ts
		if ts.After(state.pods[pod.Name]) {
			consider(ts)
		}
	}
	created := svc.CreationTimestamp.Time
	if created.After(state.service) {
		consider(created)
	}
	commit = func() {
		t.mu.Lock()
		t.states[key] = serviceState{service: created, pods: podTimes}
		t.mu.Unlock()
	}
	if !known {
		return created, commit
	}
	return earliest, commit
}

// Delete forgets a Service.
func (t *TriggerTimeTracker) Delete(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.states, namespace+"/"+name)
}
