package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// backoffRecord is what the pod re-creation delay of a Job is computed
// from: the failures since the last success and when the last one happened.
type backoffRecord struct {
	failuresAfterLastSuccess int32
	lastFailureTime          *time.Time
}

// backoffStore keeps the records of the Jobs being synced, in memory (as
// Kubernetes does: a restarted controller starts the delays afresh).
type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{m: map[string]backoffRecord{}} }

func (s *backoffStore) update(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = r
}

func (s *backoffStore) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// next returns the record after the newly finished pods: a success resets
// the failure count, keeping only the failures that finished after the
// latest success.
func (s *backoffStore) next(key string, succeeded, failed []*corev1.Pod) backoffRecord {
	s.mu.Lock()
	r := s.m[key]
	s.mu.Unlock()
	sortByFinishTime(succeeded)
	sortByFinishTime(failed)
	if len(succeeded) == 0 {
		if len(failed) == 0 {
			return r
		}
		last := finishTime(failed[len(failed)-1])
		return backoffRecord{failuresAfterLastSuccess: r.failuresAfterLastSuccess + int32(len(failed)), lastFailureTime: &last}
	}
	r = backoffRecord{}
	lastSuccess := finishTime(succeeded[len(succeeded)-1])
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishTime(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if r.lastFailureTime == nil {
			r.lastFailureTime = &t
		}
		r.failuresAfterLastSuccess++
	}
	return r
}

// remaining is how long pod creation must still wait at now: base doubled
// for each failure after the first, capped at max, counted from the last
// failure.
func (r backoffRecord) remaining(now time.Time, base, max time.Duration) time.Duration {
	if r.failuresAfterLastSuccess == 0 || r.lastFailureTime == nil {
		return 0
	}
	delay := base
	for i := int32(1); i < r.failuresAfterLastSuccess; i++ {
		delay *= 2
		if delay >= max {
			delay = max
			break
		}
	}
	elapsed := now.Sub(*r.lastFailureTime)
	if delay < elapsed {
		return 0
	}
	return delay - elapsed
}

func sortByFinishTime(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return finishTime(pods[i]).Before(finishTime(pods[j])) })
}

// finishTime estimates when a pod finished: when its last container
// terminated, else when it became not ready, else its deletion time less
// the grace period, else its creation.
func finishTime(p *corev1.Pod) time.Time {
	if t := containersFinishTime(p); t != nil {
		return *t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return p.CreationTimestamp.Time
}

func containersFinishTime(p *corev1.Pod) *time.Time {
	var last *time.Time
	for i := range p.Status.ContainerStatuses {
		t := p.Status.ContainerStatuses[i].State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			return nil
		}
		if last == nil || last.Before(t.FinishedAt.Time) {
			last = &t.FinishedAt.Time
		}
	}
	return last
}
