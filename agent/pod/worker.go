package pod

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"berth/agent/probe"
)

// worker syncs one pod: it alone acts on the pod's sandboxes and
// containers, so that a pod's lifecycle steps never race.
type worker struct {
	m      *Manager
	uid    types.UID
	wakeCh chan struct{}

	mu          sync.Mutex
	pod         *corev1.Pod             // the pod's latest version; nil if never seen
	gone        bool                    // the pod left the API (or the node)
	probeFailed map[string]probe.Result // liveness and startup failures by container
	admitted    bool                    // the pod passed admission (its resources count)
	finished    bool                    // the pod's containers will not run again
	ownRV       string                  // the resourceVersion of the manager's last write

	// Owned by the worker's goroutine.
	reader    *reader
	reasons   map[string]*startError
	status    *corev1.PodStatus // the status last written
	statusRV  string            // the resourceVersion of that write
	probing   map[string]string // container name → ID whose probes run
	wakeAt    time.Time         // the next timed sync, zero for none
	sandbox   map[string]uint32 // sandbox ID → attempt, for CreateContainer
	killed    bool              // the deleted pod's containers were stopped
	deleted   bool              // the deleted pod was removed from the API
	rejected  bool              // admission failed
	volumes   map[string]string // host paths of the pod's volumes, once set up
	volumesAt time.Time         // when they were set up
	// volumesMeta are the labels and annotations they were set up with.
	volumesMeta [2]map[string]string
	cgroupSet   bool // the pod cgroup was made and set
}

func newWorker(m *Manager, uid types.UID) *worker {
	return &worker{
		m: m, uid: uid,
		wakeCh:      make(chan struct{}, 1),
		probeFailed: map[string]probe.Result{},
		reader:      newReader(m.cfg.Runtime, terminationMessage),
		reasons:     map[string]*startError{},
		probing:     map[string]string{},
		sandbox:     map[string]uint32{},
	}
}

// wake has the worker sync soon.
func (w *worker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *worker) update(pod *corev1.Pod) {
	w.mu.Lock()
	old := w.pod
	w.pod = pod
	// The echo of the manager's own status writes needs no sync.
	echo := old != nil && !olderThan(pod.ResourceVersion, w.ownRV) && sameButStatus(old, pod)
	w.mu.Unlock()
	if !echo {
		w.wake()
	}
}

// sameButStatus reports whether two versions of a pod differ at most in
// their status.
func sameButStatus(a, b *corev1.Pod) bool {
	return a.Generation == b.Generation && a.DeletionTimestamp.Equal(b.DeletionTimestamp) &&
		ptr.Equal(a.DeletionGracePeriodSeconds, b.DeletionGracePeriodSeconds) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func (w *worker) markGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.wake()
}

func (w *worker) probeResult(r probe.Result) {
	if !r.Success && (r.Kind == probe.Liveness || r.Kind == probe.Startup) {
		w.mu.Lock()
		w.probeFailed[r.Container] = r
		w.mu.Unlock()
	}
	w.wake()
}

// activePod is the pod if it counts against the node's resources:
// admitted and not finished.
func (w *worker) activePod() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.admitted || w.finished || w.gone || w.pod == nil || terminalPhase(w.pod.Status.Phase) {
		return nil
	}
	return w.pod
}

func (w *worker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

// syncAt asks for a sync at t at the latest.
func (w *worker) syncAt(t time.Time) {
	if w.wakeAt.IsZero() || t.Before(w.wakeAt) {
		w.wakeAt = t
	}
}

// run syncs the pod whenever told to, or when a timed sync is due, until
// the pod is gone and cleaned up or ctx ends.
func (w *worker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
		case <-timer.C:
		}
		w.wakeAt = time.Time{}
		done := w.sync(ctx)
		if done || ctx.Err() != nil {
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		next := w.m.cfg.ResyncPeriod
		if !w.wakeAt.IsZero() {
			next = min(next, max(time.Until(w.wakeAt), 10*time.Millisecond))
		}
		timer.Reset(next)
	}
}

// sync does one step of the pod's lifecycle and reports whether the
// worker is done (the pod is gone and everything of it removed).
func (w *worker) sync(ctx context.Context) bool {
	m := w.m
	pod, gone := w.snapshot()
	if m.stopping.Load() {
		return true
	}
	if gone || pod == nil {
		grace := int64(-1)
		if pod != nil && pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		if err := w.removeAll(ctx, pod, grace, false); err != nil {
			m.log.Error("clean up pod", "uid", w.uid, "err", err)
			w.syncAt(time.Now().Add(m.cfg.ErrorResync))
			return false
		}
		m.crash.forget(string(w.uid))
		m.puller.backOff.forget(string(w.uid))
		return true
	}
	log := m.log.With("pod", pod.Namespace+"/"+pod.Name)
	var err error
	switch {
	case pod.DeletionTimestamp != nil:
		err = w.terminate(ctx, pod)
	case terminalPhase(pod.Status.Phase) || w.isFinished():
		err = w.finish(ctx, pod)
	default:
		if !w.admit(ctx, pod) {
			return false
		}
		err = w.syncRunning(ctx, pod)
	}
	if err != nil && ctx.Err() == nil {
		log.Error("sync pod", "err", err)
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
	}
	return false
}

func (w *worker) isFinished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished
}

func (w *worker) setFinished() {
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
}

// base is the pod's last known status: the one last written, or the API's.
func (w *worker) base(pod *corev1.Pod) corev1.PodStatus {
	if w.status != nil && !olderThan(pod.ResourceVersion, w.statusRV) {
		return *w.status
	}
	return pod.Status
}

// olderThan reports whether resource version a is known to be newer
// than b (both as etcd revisions).
func olderThan(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}

// started and ready are the probes' verdicts on the pod's containers.
func (w *worker) started(name string) bool {
	if w.m.cfg.Probes == nil {
		return true
	}
	return w.m.cfg.Probes.Started(w.uid, name)
}

func (w *worker) ready(name string) bool {
	if w.m.cfg.Probes == nil {
		return true
	}
	return w.m.cfg.Probes.Ready(w.uid, name)
}

// takeProbeFailures returns the containers whose probes failed since the
// last call.
func (w *worker) takeProbeFailures() map[string]probe.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.probeFailed
	w.probeFailed = map[string]probe.Result{}
	return out
}
