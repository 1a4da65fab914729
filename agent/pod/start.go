package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// startContainer starts container c of the pod, with its image pulled and
// its configuration made, unless it is in back-off. Failures become the
// container's waiting reason. It reports whether a container was made.
func (w *worker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rt *podRuntime, volumes map[string]string) bool {
	m := w.m
	ref := containerRef(pod, c)
	sb := rt.sandbox()
	latest := rt.latest(c.Name)
	now := m.now()
	key := string(pod.UID) + "/" + c.Name
	if latest != nil && latest.exited() {
		if in, until := m.crash.inBackOffSince(key, latest.finishedAt, now); in {
			m.event(ref, corev1.EventTypeWarning, eventBackOff, "Back-off restarting failed container %s in pod %s", c.Name, formatPod(pod))
			w.reasons[c.Name] = &startError{reasonCrashLoopBackOff,
				fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", m.crash.get(key), c.Name, formatPod(pod))}
			w.syncAt(until)
			return false
		}
		m.crash.next(key, latest.finishedAt, now)
	}
	fail := func(err error) bool {
		var se *startError
		if !errors.As(err, &se) {
			se = &startError{reasonRunContainerError, err.Error()}
		}
		m.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", se.reason)
		m.log.Debug("container not started", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "reason", se.reason, "message", se.message)
		w.reasons[c.Name] = se
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
		return false
	}
	img, err := m.ensureImage(ctx, pod, c)
	if err != nil {
		if se := (*startError)(nil); errors.As(err, &se) && se.reason == reasonImagePullBackOff {
			_, until := m.puller.backOff.inBackOffSinceUpdate(string(pod.UID)+"_"+c.Image, now)
			w.syncAt(until)
		}
		return fail(err)
	}
	restartCount := int32(0)
	if latest != nil {
		restartCount = latest.restartCount + 1
	} else {
		restartCount = w.restartCountFromLogs(pod, c)
	}
	sbConfig := m.sandboxConfig(pod, sb.attempt)
	sc := &startContext{sandboxID: sb.id, sandbox: sbConfig, podIPs: sb.ips, volumes: volumes, image: img, restartCount: restartCount}
	cfg, err := m.containerConfig(ctx, pod, c, sc)
	if err != nil {
		m.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		w.reasons[c.Name] = &startError{reasonCreateConfigError, err.Error()}
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
		return false
	}
	cfg.Labels[labelNode] = m.cfg.NodeName
	created, err := m.cfg.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.id, Config: cfg, SandboxConfig: sbConfig})
	if err != nil {
		msg := grpcMessage(err)
		m.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", msg)
		w.reasons[c.Name] = &startError{reasonCreateError, msg}
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
		return false
	}
	id := created.ContainerId
	m.event(ref, corev1.EventTypeNormal, eventCreated, "Created container: %s", c.Name)
	if _, err := m.cfg.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		msg := grpcMessage(err)
		m.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", msg)
		w.reasons[c.Name] = &startError{reasonRunContainerError, msg}
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
		return true
	}
	m.event(ref, corev1.EventTypeNormal, eventStarted, "Started container %s", c.Name)
	m.log.Debug("started container", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "id", id, "restartCount", restartCount)
	delete(w.reasons, c.Name)
	podIP := ""
	if len(sb.ips) > 0 {
		podIP = sb.ips[0]
	} else if ips := m.hostIPs(); pod.Spec.HostNetwork && len(ips) > 0 {
		podIP = ips[0]
	}
	if m.cfg.Probes != nil {
		m.cfg.Probes.Start(pod, podIP, c.Name, id, time.Now())
		w.probing[c.Name] = id
	}
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := m.runHook(ctx, pod, c, id, podIP, c.Lifecycle.PostStart); err != nil {
			m.log.Info("postStart hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
			m.event(ref, corev1.EventTypeWarning, eventFailedPostStartHook, "PostStartHook failed")
			w.killContainer(ctx, pod, c, &container{id: id, name: c.Name}, gracePeriod(pod, false), "FailedPostStartHook")
			w.reasons[c.Name] = &startError{reasonPostStartHookError, msg}
		}
	}
	return true
}

// grpcMessage is the message of a gRPC error (the kubelet shows it
// without the code).
func grpcMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, " desc = "); strings.HasPrefix(s, "rpc error:") && i >= 0 {
		return s[i+len(" desc = "):]
	}
	return s
}

// restartCountFromLogs continues the restart count of a container whose
// instances are all gone (the runtime lost them) from its log files.
func (w *worker) restartCountFromLogs(pod *corev1.Pod, c *corev1.Container) int32 {
	entries, err := os.ReadDir(filepath.Join(w.m.logDir(pod.Namespace, pod.Name, pod.UID), c.Name))
	if err != nil {
		return 0
	}
	next := int32(0)
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log")); err == nil && int32(n) >= next {
			next = int32(n) + 1
		}
	}
	return next
}

// killContainer stops a container: preStop hook first, then SIGTERM and,
// after what is left of the grace period, SIGKILL.
func (w *worker) killContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, k *container, grace int64, message string) {
	m := w.m
	if spec == nil && pod != nil {
		spec = findContainer(pod, k.name)
	}
	if message == "" {
		message = "Stopping container " + k.name
	}
	if spec != nil && pod != nil {
		m.event(containerRef(pod, spec), corev1.EventTypeNormal, eventKilling, "%s", message)
	}
	if m.cfg.Probes != nil {
		m.cfg.Probes.Stop(w.uid, k.name)
		w.mu.Lock() // containers are killed in parallel
		delete(w.probing, k.name)
		w.mu.Unlock()
	}
	m.log.Debug("stop container", "uid", w.uid, "container", k.name, "grace", grace, "message", message)
	start := time.Now()
	if spec != nil && pod != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		podIP := ""
		if len(pod.Status.PodIPs) > 0 {
			podIP = pod.Status.PodIPs[0].IP
		}
		if _, err := m.runHook(hctx, pod, spec, k.id, podIP, spec.Lifecycle.PreStop); err != nil {
			if hctx.Err() != nil {
				m.log.Info("preStop hook not completed in the grace period", "pod", pod.Namespace+"/"+pod.Name, "container", k.name)
			} else {
				m.log.Info("preStop hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", k.name, "err", err)
				m.event(containerRef(pod, spec), corev1.EventTypeWarning, eventFailedPreStopHook, "PreStopHook failed")
			}
		}
		cancel()
		grace -= int64(time.Since(start).Seconds())
	}
	grace = max(grace, 2) // the kubelet's minimum: no needless SIGKILL
	_, err := m.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: k.id, Timeout: grace})
	if err != nil && ctx.Err() == nil {
		m.log.Error("stop container", "uid", w.uid, "container", k.name, "err", err)
	}
}

// killContainers stops containers in parallel: the regular ones first,
// then sidecars in the reverse of their order.
func (w *worker) killContainers(ctx context.Context, pod *corev1.Pod, list []*container, grace int64, message string) {
	var regular, sidecars []*container
	for _, k := range list {
		if pod != nil {
			if c := findContainer(pod, k.name); c != nil && isSidecar(c) {
				sidecars = append(sidecars, k)
				continue
			}
		}
		regular = append(regular, k)
	}
	g := grace
	if grace < 0 && len(list) > 0 {
		g = list[0].gracePeriod
	}
	done := make(chan struct{}, len(regular))
	for _, k := range regular {
		go func() {
			gg := g
			if grace < 0 {
				gg = k.gracePeriod
			}
			w.killContainer(ctx, pod, nil, k, gg, message)
			done <- struct{}{}
		}()
	}
	for range regular {
		<-done
	}
	if pod != nil {
		// reverse spec order: the last sidecar started stops first
		order := map[string]int{}
		for i, c := range pod.Spec.InitContainers {
			order[c.Name] = i
		}
		for i := 0; i < len(sidecars); i++ {
			for j := i + 1; j < len(sidecars); j++ {
				if order[sidecars[j].name] > order[sidecars[i].name] {
					sidecars[i], sidecars[j] = sidecars[j], sidecars[i]
				}
			}
		}
	}
	for _, k := range sidecars {
		w.killContainer(ctx, pod, nil, k, g, message)
	}
}

// syncProbes starts the probes of running containers whose probes do
// not run yet (containers adopted after an agent restart) and stops
// those of containers that stopped running.
func (w *worker) syncProbes(pod *corev1.Pod, rt *podRuntime) {
	m := w.m
	if m.cfg.Probes == nil {
		return
	}
	for name, id := range w.probing {
		if k := rt.latest(name); k == nil || k.id != id || !k.running() {
			m.cfg.Probes.Stop(pod.UID, name)
			delete(w.probing, name)
		}
	}
	podIP := ""
	if sb := rt.sandbox(); sb != nil && len(sb.ips) > 0 {
		podIP = sb.ips[0]
	} else if ips := m.hostIPs(); pod.Spec.HostNetwork && len(ips) > 0 {
		podIP = ips[0]
	}
	for _, k := range rt.running() {
		if w.probing[k.name] == k.id || findContainer(pod, k.name) == nil {
			continue
		}
		m.cfg.Probes.Start(pod, podIP, k.name, k.id, k.startedAt)
		w.probing[k.name] = k.id
	}
}
