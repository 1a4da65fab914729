package probe_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/probe"
	"berth/internal/testnode"
)

// runPod starts a pod sandbox with one container per image and args, and
// returns the sandbox's IP and the containers' IDs.
func runPod(t *testing.T, n *testnode.Node, uid string, ctrs map[string][]string) (string, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: uid},
		LogDirectory: n.Dir + "/logs/" + uid,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb, err := n.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, spec := range ctrs {
		image := spec[0]
		if _, err := n.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}, SandboxConfig: sbCfg}); err != nil {
			t.Fatalf("pull %s: %v", image, err)
		}
		c, err := n.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId:  sb.PodSandboxId,
			SandboxConfig: sbCfg,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: name},
				Image:    &runtimeapi.ImageSpec{Image: image},
				Args:     spec[1:],
				LogPath:  name + "/0.log",
				Linux:    &runtimeapi.LinuxContainerConfig{},
			},
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := n.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		ids[name] = c.ContainerId
	}
	return st.Status.Network.Ip, ids
}

// nextResult waits for a result of the given container and kind.
func nextResult(t *testing.T, m *probe.Manager, container string, kind probe.Kind) probe.Result {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-m.Results():
			if r.Container == container && r.Kind == kind {
				return r
			}
		case <-timeout:
			t.Fatalf("no %s result for %s within 30s", kind, container)
		}
	}
}

// Exec probes run through CRI ExecSync in a busybox container, and HTTP,
// TCP probes reach a demo container on the pod's IP.
func TestContainers(t *testing.T) {
	t.Parallel()
	n := testnode.Start(t)
	podIP, ids := runPod(t, n, "uid-probe", map[string][]string{
		"box":  {"busybox", "sh", "-c", "touch /tmp/healthy; exec sleep 3600"},
		"demo": {"berth/demo:v1"},
	})
	exec := probe.ExecFunc(n.Runtime)
	ctx := context.Background()

	t.Run("ExecFunc", func(t *testing.T) {
		out, code, err := exec(ctx, ids["box"], []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, time.Second)
		if err != nil || code != 3 || string(out) != "out\nerr\n" {
			t.Errorf("got %q %d %v, want \"out\\nerr\\n\" 3", out, code, err)
		}
		start := time.Now()
		_, _, err = exec(ctx, ids["box"], []string{"sleep", "30"}, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want a timeout", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("timed out after %v, want about 1s", d)
		}
		_, _, err = exec(ctx, "no-such-container", []string{"true"}, time.Second)
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v for a missing container, want one that is not a timeout", err)
		}
	})

	m := probe.NewManager(probe.Config{Exec: exec, Logger: slog.New(slog.DiscardHandler)})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	execProbe := func(failures int32, cmd ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
	}
	port := intstr.FromString("http")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{
				Name:           "box",
				Env:            []corev1.EnvVar{{Name: "FILE", Value: "/tmp/healthy"}},
				LivenessProbe:  execProbe(2, "cat", "$(FILE)"),
				ReadinessProbe: execProbe(1, "test", "-f", "/tmp/ready"),
			},
			{
				Name:  "demo",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: port}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1},
			},
		}},
	}
	for name, id := range ids {
		m.Start(pod, podIP, name, id, time.Now())
	}

	// The demo app starts (TCP), then is ready (HTTP on the pod's IP).
	if r := nextResult(t, m, "demo", probe.Readiness); !r.Success {
		t.Fatalf("demo readiness %+v", r)
	}
	if !m.Started("uid-probe", "demo") || !m.Ready("uid-probe", "demo") {
		t.Error("demo not started and ready")
	}

	// Readiness follows a file in the busybox container.
	if m.Ready("uid-probe", "box") {
		t.Fatal("box ready before /tmp/ready exists")
	}
	if _, code, err := exec(ctx, ids["box"], []string{"touch", "/tmp/ready"}, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("touch: %d %v", code, err)
	}
	if r := nextResult(t, m, "box", probe.Readiness); !r.Success {
		t.Fatalf("box readiness %+v", r)
	}

	// Liveness fails once the file the probe reads is gone.
	if _, code, err := exec(ctx, ids["box"], []string{"rm", "/tmp/healthy"}, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("rm: %d %v", code, err)
	}
	r := nextResult(t, m, "box", probe.Liveness)
	want := "cat: can't open '/tmp/healthy': No such file or directory"
	if r.Success || r.ContainerID != ids["box"] || !strings.Contains(r.Message, want) {
		t.Fatalf("liveness %+v, want a failure saying %q", r, want)
	}
}
