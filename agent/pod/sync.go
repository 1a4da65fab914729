package pod

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxStepsPerSync bounds the plan-act rounds of one sync (a sandbox, then
// sidecars, then containers...).
const maxStepsPerSync = 6

// syncRunning brings a pod that is to run in line with its spec, then
// reports its status.
func (w *worker) syncRunning(ctx context.Context, pod *corev1.Pod) error {
	m := w.m
	if !w.cgroupSet {
		if err := m.cg.Ensure(pod.UID, podCgroupResources(pod)); err != nil {
			return err
		}
		w.cgroupSet = true
	}
	volumes, volErr := w.setupVolumes(ctx, pod)
	rt, err := w.reader.read(ctx, pod.UID)
	if err != nil {
		return err
	}
	if rt, err = w.settleOOM(ctx, pod, rt); err != nil {
		return err
	}
	var errs []error
	if w.status == nil && pod.Status.StartTime == nil {
		// The first status says what happens: ContainerCreating.
		if err := w.writeStatus(ctx, pod, rt, false); err != nil {
			errs = append(errs, err)
		}
	}
	tried := map[string]bool{} // each container is started at most once a sync
	for step := 0; step < maxStepsPerSync && volErr == nil; step++ {
		base := w.base(pod)
		p := computePlan(&planInput{pod: pod, rt: rt, probeFailed: w.takeProbeFailures(), started: w.started, old: &base})
		acted, err := w.apply(ctx, pod, rt, &p, volumes, tried)
		if err != nil {
			errs = append(errs, err)
		}
		if acted {
			if rt, err = w.reader.read(ctx, pod.UID); err != nil {
				return err
			}
		}
		if p.terminal {
			w.setFinished()
			break
		}
		if !acted || err != nil {
			break
		}
	}
	w.syncProbes(pod, rt)
	if err := w.writeStatus(ctx, pod, rt, w.isFinished()); err != nil {
		errs = append(errs, err)
	}
	w.collectGarbage(ctx, rt)
	if w.isFinished() {
		w.release(ctx, pod)
	}
	if volErr != nil {
		return fmt.Errorf("volumes: %w", volErr)
	}
	return errors.Join(errs...)
}

// setupVolumes prepares the pod's volumes the first time, and again every
// resync period (refreshing configMap and secret contents).
func (w *worker) setupVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	m := w.m
	if m.cfg.Volumes == nil {
		return map[string]string{}, nil
	}
	// Again when the labels or annotations change (downwardAPI volumes).
	if w.volumes != nil && time.Since(w.volumesAt) < m.cfg.ResyncPeriod &&
		maps.Equal(w.volumesMeta[0], pod.Labels) && maps.Equal(w.volumesMeta[1], pod.Annotations) {
		return w.volumes, nil
	}
	volumes, err := m.cfg.Volumes.Setup(ctx, pod)
	if err != nil {
		m.event(podRef(pod), corev1.EventTypeWarning, eventFailedMount, "Unable to attach or mount volumes: %v", err)
		return nil, err
	}
	if volumes == nil {
		volumes = map[string]string{}
	}
	w.volumes, w.volumesAt = volumes, time.Now()
	w.volumesMeta = [2]map[string]string{pod.Labels, pod.Annotations}
	w.syncAt(w.volumesAt.Add(m.cfg.ResyncPeriod))
	return volumes, nil
}

// apply carries a plan out and reports whether it changed anything.
func (w *worker) apply(ctx context.Context, pod *corev1.Pod, rt *podRuntime, p *plan, volumes map[string]string, tried map[string]bool) (bool, error) {
	m := w.m
	acted := false
	if p.killPod {
		if sb := rt.sandbox(); p.createSandbox && sb != nil {
			m.event(podRef(pod), corev1.EventTypeNormal, eventSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		}
		w.killContainers(ctx, pod, rt.running(), gracePeriod(pod, false), "")
		for _, sb := range rt.sandboxes {
			if sb.ready {
				if _, err := m.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.id}); err != nil {
					return true, fmt.Errorf("stop sandbox: %w", err)
				}
			}
		}
		acted = true
	}
	if p.createSandbox {
		m.log.Debug("create sandbox", "pod", pod.Namespace+"/"+pod.Name, "attempt", p.attempt)
		if _, err := m.createSandbox(ctx, pod, p.attempt); err != nil {
			m.event(podRef(pod), corev1.EventTypeWarning, eventFailedSandbox, "Failed to create pod sandbox: %v", err)
			return true, fmt.Errorf("create sandbox: %w", err)
		}
		return true, nil
	}
	for _, k := range p.kill {
		grace := gracePeriod(pod, false)
		if k.grace != nil {
			grace = *k.grace
		}
		w.killContainer(ctx, pod, k.spec, k.k, grace, k.message)
		acted = true
	}
	if len(p.kill) > 0 {
		return acted, nil // restarted (or not) by the next plan
	}
	for _, c := range p.start {
		if tried[c.Name] {
			continue
		}
		tried[c.Name] = true
		if w.startContainer(ctx, pod, c, rt, volumes) {
			acted = true
		}
	}
	return acted, nil
}

// gracePeriod is how long the pod's containers get to stop: the
// deletion's grace period, or the pod's terminationGracePeriodSeconds.
func gracePeriod(pod *corev1.Pod, deleting bool) int64 {
	if deleting && pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}
