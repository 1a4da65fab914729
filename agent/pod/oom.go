package pod

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// oomSettle is how long after a SIGKILL exit containerd may still learn
// that it was an OOM kill: the OOM comes as an event of its own, which can
// follow the exit under load, and until then the runtime reports the
// container as Error with 137.
const oomSettle = time.Second

// mayBeOOM reports whether an exited container's reason may still turn
// into OOMKilled: it was SIGKILLed a moment ago and has a memory limit.
func mayBeOOM(pod *corev1.Pod, k *container, now time.Time) bool {
	if !k.exited() || k.exitCode != 137 || k.reason != "Error" || now.Sub(k.finishedAt) >= oomSettle {
		return false
	}
	c := findContainer(pod, k.name)
	return c != nil && !c.Resources.Limits.Memory().IsZero()
}

// settleOOM reads the pod's containers again, for at most oomSettle,
// while one of them may yet turn out OOMKilled, so that the status
// written says what happened.
func (w *worker) settleOOM(ctx context.Context, pod *corev1.Pod, rt *podRuntime) (*podRuntime, error) {
	deadline := time.Now().Add(oomSettle)
	for time.Now().Before(deadline) {
		pending := false
		for _, k := range rt.containers {
			pending = pending || mayBeOOM(pod, k, w.m.now())
		}
		if !pending {
			return rt, nil
		}
		select {
		case <-ctx.Done():
			return rt, nil
		case <-time.After(100 * time.Millisecond):
		}
		next, err := w.reader.read(ctx, pod.UID)
		if err != nil {
			return nil, err
		}
		rt = next
	}
	return rt, nil
}
