package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker runs one probe of one container instance, from Start until the
// container is stopped or replaced, or until the probe has nothing left
// to decide (a startup probe that succeeded; a liveness or startup probe
// that failed: the container will be killed and a restarted one gets new
// workers).
type worker struct {
	m     *Manager
	c     *container
	kind  Kind
	probe *corev1.Probe // with defaults

	// last is the last probe outcome that counted (success or failure)
	// and streak how many times in a row it came.
	last   outcome
	streak int
}

func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	period := time.Duration(w.probe.PeriodSeconds) * time.Second
	// Right after an agent (re)start every container's probes would start
	// together: spread the first probes over a period, as the kubelet does.
	if period > w.m.now().Sub(w.m.start) {
		select {
		case <-ctx.Done():
			return
		case <-w.m.timers.After(w.m.jitter(period)):
		}
	}
	ticker := w.m.timers.NewTicker(period)
	defer ticker.Stop()
	var trigger <-chan struct{}
	if w.kind == Readiness {
		trigger = w.c.readinessNow
	}
	for w.once(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-trigger:
		}
	}
}

// once probes if it is time to and records the outcome. It reports whether
// the worker should go on.
func (w *worker) once(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	c, m := w.c, w.m
	// A pod being deleted is not restarted for failing liveness: its
	// containers are stopping anyway.
	if c.pod.DeletionTimestamp != nil && w.kind != Readiness {
		return false
	}
	if int32(m.now().Sub(c.startedAt).Seconds()) < w.probe.InitialDelaySeconds {
		return true
	}
	m.mu.Lock()
	started := c.started
	m.mu.Unlock()
	if w.kind != Startup && !started {
		return true // liveness and readiness wait for the startup probe
	}

	res, output, err := w.probeWithRetries(ctx)
	if ctx.Err() != nil {
		return false // stopped while probing: the outcome is moot
	}
	if err != nil {
		m.log.Debug("probe errored", "pod", podName(c.pod), "container", c.key.name, "probe", w.kind, "err", err)
		m.event(c, corev1.EventTypeWarning, reasonUnhealthy, "%s probe errored and resulted in unknown state: %s", w.kind, err)
		return true // thrown away: it says nothing about the container
	}
	switch res {
	case warning:
		m.event(c, corev1.EventTypeWarning, reasonProbeWarning, "%s probe warning: %s", w.kind, output)
		res = success
	case failure:
		m.log.Debug("probe failed", "pod", podName(c.pod), "container", c.key.name, "probe", w.kind, "output", output)
		m.event(c, corev1.EventTypeWarning, reasonUnhealthy, "%s probe failed: %s", w.kind, output)
	}

	if res == w.last {
		w.streak++
	} else {
		w.last, w.streak = res, 1
	}
	if (res == failure && w.streak < int(w.probe.FailureThreshold)) ||
		(res == success && w.streak < int(w.probe.SuccessThreshold)) {
		return true
	}
	return w.record(ctx, res == success, output)
}

// probeWithRetries runs the probe, again (up to three times in all) when
// it errors, as the kubelet does.
func (w *worker) probeWithRetries(ctx context.Context) (outcome, string, error) {
	var (
		res    outcome
		output string
		err    error
	)
	for range 3 {
		res, output, err = w.m.runProbe(ctx, w.probe, w.c)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return res, output, err
}

// record stores a result that reached its threshold, sends it when it is
// a change, and reports whether the worker should go on.
func (w *worker) record(ctx context.Context, ok bool, output string) bool {
	c, m := w.c, w.m
	r := Result{PodUID: c.key.pod, Container: c.key.name, ContainerID: c.id, Kind: w.kind, Success: ok, Message: output}
	m.mu.Lock()
	if !m.current(c) || ctx.Err() != nil {
		m.mu.Unlock()
		return false
	}
	send, goOn := false, true
	switch w.kind {
	case Readiness:
		send = c.ready != ok
		c.ready = ok
	case Startup:
		// Decided either way: started, or to be killed.
		send, goOn = true, false
		c.started = ok
		if ok {
			select {
			case c.readinessNow <- struct{}{}:
			default:
			}
		}
	case Liveness:
		// Success is the initial value: only failures are news, and after
		// one the container is killed.
		send, goOn = !ok, ok
	}
	m.mu.Unlock()
	if !send {
		return goOn
	}
	if !ok && w.kind != Readiness {
		r.TerminationGracePeriodSeconds = w.probe.TerminationGracePeriodSeconds
	}
	m.log.Info("probe result changed", "pod", podName(c.pod), "container", c.key.name, "probe", w.kind, "success", ok)
	select {
	case m.results <- r:
	case <-ctx.Done():
		return false
	}
	return goOn
}

func podName(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
