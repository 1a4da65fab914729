package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// collectGarbage removes the instances of each container beyond its two
// newest (the current one and the previous, whose end is the status'
// lastState), with their logs, and dead sandboxes with no containers.
func (w *worker) collectGarbage(ctx context.Context, rt *podRuntime) {
	m := w.m
	seen := map[string]int{}
	used := map[string]bool{}
	for _, k := range rt.containers {
		seen[k.name]++
		if seen[k.name] <= 2 || k.running() {
			used[k.sandboxID] = true
			continue
		}
		st, err := m.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: k.id})
		if _, err := m.cfg.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: k.id}); err != nil {
			m.log.Warn("remove container", "uid", w.uid, "container", k.name, "err", err)
			used[k.sandboxID] = true
			continue
		}
		if err == nil && st.Status.LogPath != "" {
			_ = os.Remove(st.Status.LogPath)
		}
	}
	for i, sb := range rt.sandboxes {
		if i == 0 || sb.ready || used[sb.id] {
			continue
		}
		if _, err := m.cfg.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.id}); err != nil {
			m.log.Warn("remove sandbox", "uid", w.uid, "err", err)
		}
	}
}

// release frees what a finished pod holds: its sandbox (and address),
// volumes and pod cgroup. Its exited containers stay, for their logs and
// status, until the pod is deleted.
func (w *worker) release(ctx context.Context, pod *corev1.Pod) {
	m := w.m
	rt, err := w.reader.read(ctx, pod.UID)
	if err != nil {
		m.log.Error("release finished pod", "uid", w.uid, "err", err)
		return
	}
	if m.cfg.Probes != nil {
		m.cfg.Probes.StopPod(pod.UID)
		clear(w.probing)
	}
	w.killContainers(ctx, pod, rt.running(), gracePeriod(pod, false), "")
	for _, sb := range rt.sandboxes {
		if sb.ready {
			if _, err := m.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.id}); err != nil {
				m.log.Error("stop sandbox", "uid", w.uid, "err", err)
			}
		}
	}
	if m.cfg.Volumes != nil {
		if err := m.cfg.Volumes.Teardown(ctx, pod.UID); err != nil {
			m.log.Error("tear down volumes", "uid", w.uid, "err", err)
		}
		w.volumes = nil
	}
	if err := m.cg.Remove(pod.UID); err != nil {
		m.log.Error("remove pod cgroup", "uid", w.uid, "err", err)
	}
	w.cgroupSet = false
}

// finish handles a pod that finished: released, with its final status
// (written when it finished) left as it is.
func (w *worker) finish(ctx context.Context, pod *corev1.Pod) error {
	if !w.isFinished() {
		w.setFinished()
		w.release(ctx, pod)
	}
	return nil
}

// terminate stops a deleted pod: its containers get their grace period
// (preStop hooks included), the final status is written, everything of
// the pod is removed, and the pod is deleted from the API for good.
func (w *worker) terminate(ctx context.Context, pod *corev1.Pod) error {
	m := w.m
	if w.deleted {
		return nil
	}
	if !w.killed {
		rt, err := w.reader.read(ctx, pod.UID)
		if err != nil {
			return err
		}
		grace := gracePeriod(pod, true)
		if running := rt.running(); len(running) > 0 && m.cfg.Drain != nil && grace > 1 {
			start := time.Now()
			dctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second/2)
			m.cfg.Drain(dctx, pod)
			cancel()
			grace -= int64(time.Since(start).Round(time.Second) / time.Second)
		}
		if m.cfg.Probes != nil {
			m.cfg.Probes.StopPod(pod.UID)
			clear(w.probing)
		}
		w.killContainers(ctx, pod, rt.running(), grace, "")
		w.killed = true
	}
	rt, err := w.reader.read(ctx, pod.UID)
	if err != nil {
		return err
	}
	if len(rt.running()) > 0 { // started meanwhile (a race with a sync): once more
		w.killed = false
		return fmt.Errorf("containers still running")
	}
	if !terminalPhase(pod.Status.Phase) || w.status == nil {
		if err := w.writeStatus(ctx, pod, rt, true); err != nil {
			return err
		}
	}
	if err := w.removeAll(ctx, pod, 0, false); err != nil {
		return err
	}
	w.setFinished()
	err = m.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	w.deleted = true
	return nil
}

// removeAll removes the pod from the node: its containers (stopped with
// grace seconds, or with their recorded grace periods if negative),
// sandboxes, volumes and cgroup, and unless keepFiles (a node shutting
// down, whose pods come back) its files and logs. pod may be nil (a pod
// the API no longer has).
func (w *worker) removeAll(ctx context.Context, pod *corev1.Pod, grace int64, keepFiles bool) error {
	m := w.m
	rt, err := w.reader.read(ctx, w.uid)
	if err != nil {
		return err
	}
	if m.cfg.Probes != nil {
		m.cfg.Probes.StopPod(w.uid)
	}
	w.killContainers(ctx, pod, rt.running(), grace, "")
	var errs []error
	for _, sb := range rt.sandboxes {
		if err := m.removeSandbox(ctx, sb.id); err != nil {
			errs = append(errs, err)
		}
	}
	if m.cfg.Volumes != nil {
		if err := m.cfg.Volumes.Teardown(ctx, w.uid); err != nil {
			errs = append(errs, fmt.Errorf("tear down volumes: %w", err))
		}
	}
	if err := m.cg.Remove(w.uid); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil || keepFiles {
		return err
	}
	_ = os.RemoveAll(m.podDir(w.uid))
	switch {
	case pod != nil:
		_ = os.RemoveAll(m.logDir(pod.Namespace, pod.Name, pod.UID))
	case len(rt.sandboxes) > 0:
		sb := rt.sandboxes[0]
		_ = os.RemoveAll(m.logDir(sb.namespace, sb.name, w.uid))
	}
	return nil
}

// removeSandbox stops and removes a sandbox and its containers, retrying
// for a few seconds: a container whose start is still in flight (its
// worker was cancelled meanwhile) cannot be removed yet.
func (m *Manager) removeSandbox(ctx context.Context, id string) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("remove sandbox: %w", err)
			case <-time.After(500 * time.Millisecond):
			}
		}
		if _, err = m.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			err = fmt.Errorf("stop sandbox: %w", err)
			continue
		}
		if _, err = m.cfg.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			err = fmt.Errorf("remove sandbox: %w", err)
			continue
		}
		return nil
	}
	return err
}
