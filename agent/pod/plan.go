package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"berth/agent/probe"
)

// plan is what a sync of a running pod does next (the kubelet's
// computePodActions).
type plan struct {
	// killPod: kill every running container and stop the sandbox (it
	// changed, or the pod finished).
	killPod bool
	// createSandbox makes a sandbox with attempt.
	createSandbox bool
	attempt       uint32
	// kill are running containers to kill (restarted afterwards if their
	// restart policy says so).
	kill []killTarget
	// start are containers to (re)start, in order: at most one regular
	// init container, or sidecars, or the regular containers.
	start []*corev1.Container
	// terminal: no container of the pod will run again.
	terminal bool
}

// killTarget is a running container to kill, and why.
type killTarget struct {
	k       *container
	spec    *corev1.Container
	message string
	grace   *int64 // the failed probe's own grace period, if it has one
}

// planInput is what a plan is computed from.
type planInput struct {
	pod *corev1.Pod
	rt  *podRuntime
	// probeFailed holds the liveness and startup failures by container.
	probeFailed map[string]probe.Result
	// started reports whether a running container has started (its
	// startup probe succeeded).
	started func(container string) bool
	// old is the pod's last known status: a container it reports
	// terminated for good is not started again.
	old *corev1.PodStatus
}

// computePlan decides what to do with a pod that is to run.
func computePlan(in *planInput) plan {
	pod, rt := in.pod, in.rt
	var p plan
	sb := rt.sandbox()
	if sb == nil || !sb.ready || (len(sb.ips) == 0 && !pod.Spec.HostNetwork) {
		if sb != nil {
			p.attempt = sb.attempt + 1
			p.killPod = true
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(rt.containers) > 0 {
				// A pod that never restarts does not get a new sandbox
				// once its containers ran.
				p.terminal = true
				return p
			}
			if pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && allSucceeded(pod, rt) {
				p.terminal = true // nothing left to run
				return p
			}
		}
		p.createSandbox = true
		return p
	}
	current := func(name string) *container {
		for _, k := range rt.instances(name) {
			if k.sandboxID == sb.id {
				return k
			}
		}
		return nil
	}
	checkRunning := func(c *corev1.Container, k *container) {
		restart := isSidecar(c) || pod.Spec.RestartPolicy != corev1.RestartPolicyNever
		failed, ok := in.probeFailed[c.Name]
		if ok && failed.ContainerID != "" && failed.ContainerID != k.id {
			ok = false // about an instance that is gone
		}
		var msg string
		var grace *int64
		switch {
		case k.hash != "" && k.hash != containerHash(c):
			msg, restart = fmt.Sprintf("Container %s definition changed", c.Name), true
		case ok && failed.Kind == probe.Liveness:
			msg, grace = fmt.Sprintf("Container %s failed liveness probe", c.Name), failed.TerminationGracePeriodSeconds
		case ok && failed.Kind == probe.Startup:
			msg, grace = fmt.Sprintf("Container %s failed startup probe", c.Name), failed.TerminationGracePeriodSeconds
		default:
			return
		}
		if restart {
			msg += ", will be restarted"
		}
		p.kill = append(p.kill, killTarget{k: k, spec: c, message: msg, grace: grace})
	}

	if !hasActiveRegularContainer(pod, rt) {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			k := current(c.Name)
			if isSidecar(c) {
				if k != nil && k.running() {
					checkRunning(c, k)
					if !in.started(c.Name) {
						return p // wait until it has started
					}
					continue
				}
				p.start = append(p.start, c)
				return p
			}
			switch {
			case k == nil:
				p.start = append(p.start, c)
				return p
			case k.running():
				return p // wait for it to complete
			case k.exited() && k.exitCode == 0:
				continue
			case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
				// An init container failed for good: the pod failed.
				p.killPod, p.terminal = true, true
				return p
			default:
				p.start = append(p.start, c)
				return p
			}
		}
	} else {
		// Sidecars run alongside the containers: restart those that stop.
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if !isSidecar(c) {
				continue
			}
			if k := current(c.Name); k != nil && k.running() {
				checkRunning(c, k)
			} else {
				p.start = append(p.start, c)
			}
		}
	}

	done := true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		k := rt.latest(c.Name)
		if k != nil && k.running() {
			checkRunning(c, k)
			done = false
			continue
		}
		if shouldRestart(pod, c, k) && !finishedForGood(pod, c, in.old) {
			p.start = append(p.start, c)
			done = false
		}
	}
	if done {
		p.terminal = true
		p.start = nil
		p.killPod = len(rt.running()) > 0 || sb.ready
	}
	return p
}

// finishedForGood reports whether the pod's last known status has the
// container terminated in a way its restart policy does not restart: it
// ran (before the runtime lost it) and must not run again.
func finishedForGood(pod *corev1.Pod, c *corev1.Container, old *corev1.PodStatus) bool {
	if old == nil {
		return false
	}
	st, ok := statusOf(old.ContainerStatuses, c.Name)
	if !ok || st.State.Terminated == nil {
		return false
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return true
	case corev1.RestartPolicyOnFailure:
		return st.State.Terminated.ExitCode == 0
	}
	return false
}

// allSucceeded reports whether every regular container of the pod ran
// and exited 0.
func allSucceeded(pod *corev1.Pod, rt *podRuntime) bool {
	for i := range pod.Spec.Containers {
		k := rt.latest(pod.Spec.Containers[i].Name)
		if k == nil || !k.exited() || k.exitCode != 0 {
			return false
		}
	}
	return true
}
