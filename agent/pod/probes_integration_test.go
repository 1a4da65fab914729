package pod_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"berth/agent/pod"
	"berth/agent/probe"
)

// With the agent's real prober: readiness from an HTTP probe, a restart
// on liveness failures, started gated by a startup probe.
func TestRealProbes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, func(cfg *pod.Config) {
		cfg.Probes = probe.NewManager(probe.Config{Exec: probe.ExecFunc(cfg.Runtime), Recorder: cfg.Recorder, Logger: cfg.Logger})
	})

	web := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "web", Image: "berth/demo:v1",
		ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}},
	}}}}
	web.Name = "web"
	c.create(web)

	sick := busybox("sick", "exec sleep 3600")
	sick.Spec.Containers[0].LivenessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}}
	sick = c.create(sick)

	slow := busybox("slow", "sleep 3; touch /tmp/up; exec sleep 3600")
	slow.Spec.Containers[0].StartupProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 30,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/up"}}}}
	c.create(slow)

	c.waitFor("slow", 30*time.Second, "running, not started", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Running != nil && cs[0].Started != nil && !*cs[0].Started && !cs[0].Ready
	})
	c.waitFor("web", 30*time.Second, "ready", running)
	c.waitFor("slow", 30*time.Second, "started and ready", running)
	c.waitEvent(sick, "Killing", "Container c failed liveness probe, will be restarted", 30*time.Second)
	c.waitFor("sick", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	c.waitEvent(sick, "Unhealthy", "Liveness probe failed", 10*time.Second)
}
