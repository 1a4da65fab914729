package sim

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// podState is what a node's kubelet remembers of one of its pods. Only the
// worker syncing the pod's key touches it (and the node's registration,
// before the pod is synced).
type podState struct {
	uid  types.UID
	seen time.Time // when the kubelet first saw the pod: status.startTime
	// initDone is when the pod's sandbox and init containers were done and
	// its containers first started; zero while the pod is Pending.
	initDone time.Time
	started  time.Time // when the containers (re)started last
	restarts int32
	last     *exit     // the previous run of restarted containers
	finished time.Time // when the containers exited for good
	exitCode int32
	ip       netip.Addr
	pool     *ipPool // where ip comes from, if anywhere
	deleted  bool
}

// exit is one run of a pod's containers that ended.
type exit struct {
	code              int32
	started, finished time.Time
}

func (st *podState) running() bool { return !st.initDone.IsZero() && st.finished.IsZero() }

func (st *podState) releaseIP() {
	if st.pool != nil {
		st.pool.release(st.uid)
		st.pool = nil
	}
}

// state returns the pod's state, recovering it from the pod's status the
// first time (after a restart of the simulator, the status is all there is).
func (s *Sim) state(key string, pod *corev1.Pod, n *simNode) *podState {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	if st, ok := s.states[key]; ok {
		if st.uid == pod.UID {
			return st
		}
		st.releaseIP() // a pod of the same name replaced the old one
	}
	st := recoverState(pod, time.Now())
	s.states[key] = st
	return st
}

// forget drops the state of a pod that is gone (or not ours any more).
func (s *Sim) forget(key string) {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	if st, ok := s.states[key]; ok {
		st.releaseIP()
		delete(s.states, key)
	}
}

// recoverState reads what the simulator wrote in a pod's status before.
func recoverState(pod *corev1.Pod, now time.Time) *podState {
	st := &podState{uid: pod.UID, seen: now}
	if pod.Status.StartTime != nil {
		st.seen = pod.Status.StartTime.Time
	}
	if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		st.ip = ip
	}
	if len(pod.Status.ContainerStatuses) == 0 {
		return st
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	for _, cs := range pod.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			st.started = later(st.started, cs.State.Running.StartedAt.Time)
		case cs.State.Terminated != nil && terminal:
			t := cs.State.Terminated
			st.started = later(st.started, t.StartedAt.Time)
			st.finished = later(st.finished, t.FinishedAt.Time)
			if t.ExitCode != 0 {
				st.exitCode = t.ExitCode
			}
		default:
			// Not started (or not by a kubelet we know): start afresh.
			return &podState{uid: pod.UID, seen: st.seen}
		}
		st.restarts = max(st.restarts, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			st.last = &exit{code: t.ExitCode, started: t.StartedAt.Time, finished: t.FinishedAt.Time}
		}
	}
	st.initDone = st.started
	for _, cs := range pod.Status.InitContainerStatuses {
		if t := cs.State.Terminated; t != nil && !t.StartedAt.IsZero() && t.StartedAt.Time.Before(st.initDone) {
			st.initDone = t.StartedAt.Time
		}
	}
	if st.finished.IsZero() && terminal {
		st.finished = st.started
	}
	return st
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// syncPod does for one pod what its node's kubelet would: start it, end it
// (pods that do not restart always), report its status, and remove it once
// deleted.
func (s *Sim) syncPod(ctx context.Context, key string) error {
	obj, exists, err := s.podIndexer.GetByKey(key)
	if err != nil {
		return fmt.Errorf("pod %s from cache: %w", key, err)
	}
	if !exists {
		s.forget(key)
		return nil
	}
	pod := obj.(*corev1.Pod)
	n := s.node(pod.Spec.NodeName)
	if n == nil {
		s.forget(key)
		return nil
	}
	n.mu.Lock()
	active := n.registered && !n.stopped
	n.mu.Unlock()
	if !active {
		return nil // the node's registration or resumption queues its pods
	}
	st := s.state(key, pod, n)
	now := time.Now()
	if pod.DeletionTimestamp != nil {
		return s.stopPod(ctx, pod, st, n, now)
	}
	if phase := pod.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		st.releaseIP()
		return nil
	}
	wait, err := s.advance(pod, st, n, now)
	if err != nil {
		return err
	}
	if err := s.writePodStatus(ctx, pod, st, n, now); err != nil {
		return err
	}
	if !st.finished.IsZero() {
		st.releaseIP() // the sandbox is gone
	}
	if wait > 0 {
		s.podWorker.AddAfter(key, wait)
	}
	return nil
}

// advance moves the pod's containers along: they start once the start
// delay has passed, and, unless the restart policy is Always, exit after
// their run time, to be restarted if they failed and the policy is
// OnFailure. It returns when the pod needs looking at again.
func (s *Sim) advance(pod *corev1.Pod, st *podState, n *simNode, now time.Time) (time.Duration, error) {
	if !st.finished.IsZero() {
		return 0, nil
	}
	if st.initDone.IsZero() {
		if d := st.seen.Add(s.cfg.PodStartDelay).Sub(now); d > 0 {
			return d, nil
		}
		if !pod.Spec.HostNetwork && !st.ip.IsValid() {
			pool := n.ipPool()
			ip, err := pool.allocate(pod.UID)
			if err != nil {
				return 0, fmt.Errorf("pod %s/%s sandbox on %s: %w", pod.Namespace, pod.Name, n.name, err)
			}
			st.ip, st.pool = ip, pool
		}
		st.initDone, st.started = now, now
	}
	if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" {
		return 0, nil
	}
	run := s.runTime(pod)
	end := st.started.Add(run)
	if now.Before(end) {
		return end.Sub(now), nil
	}
	code := exitCode(pod)
	if code != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		st.last = &exit{code: code, started: st.started, finished: end}
		st.restarts++
		st.started = now
		return run, nil
	}
	st.finished, st.exitCode = end, code
	return 0, nil
}

// runTime is how long the containers of a pod that does not always
// restart run.
func (s *Sim) runTime(pod *corev1.Pod) time.Duration {
	if v, ok := pod.Annotations[AnnotationDuration]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return s.cfg.JobPodDuration
}

// exitCode is the code the pod's containers exit with.
func exitCode(pod *corev1.Pod) int32 {
	if v, ok := pod.Annotations[AnnotationExitCode]; ok {
		if c, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(c)
		}
	}
	return 0
}

// writePodStatus writes the status the pod's state calls for, if the API
// server has another one.
func (s *Sim) writePodStatus(ctx context.Context, pod *corev1.Pod, st *podState, n *simNode, now time.Time) error {
	want := podStatus(pod, st, n.ip.String(), now)
	if apiequality.Semantic.DeepEqual(&pod.Status, &want) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = want
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// stopPod handles a pod being deleted, as a kubelet does once the pod's
// containers have stopped: it reports the final status (containers killed,
// pod Failed or Succeeded), then deletes the pod for good with a zero grace
// period, on the condition that it still has the same UID.
func (s *Sim) stopPod(ctx context.Context, pod *corev1.Pod, st *podState, n *simNode, now time.Time) error {
	if st.deleted {
		return nil
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if !terminal && !st.initDone.IsZero() {
		if st.finished.IsZero() {
			st.finished, st.exitCode = now, defaultKilledExit
		}
		if err := s.writePodStatus(ctx, pod, st, n, now); err != nil {
			return err
		}
	}
	st.releaseIP()
	err := s.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	st.deleted = true
	return nil
}
