package pod_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"berth/agent/probe"
)

// Containers of many kinds run side by side on one node.
func TestContainers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()

	t.Run("init containers run in order", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("init", "cat /work/order; exec sleep 3600")
		p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
		p.Spec.Containers[0].VolumeMounts = mount
		p.Spec.InitContainers = []corev1.Container{
			{Name: "first", Image: "busybox", Args: []string{"sh", "-c", "sleep 2; echo first >> /work/order"}, VolumeMounts: mount},
			{Name: "second", Image: "busybox", Args: []string{"sh", "-c", "echo second >> /work/order"}, VolumeMounts: mount},
		}
		p = c.create(p)
		c.waitKubectl("init", "Init:0/2", 10*time.Second)
		p = c.waitFor("init", 30*time.Second, "running", running)
		// The main container may not have written its log line yet.
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = c.logs(p, "c", 0); got != "" {
				break
			}
		}
		if got != "first\nsecond\n" {
			t.Errorf("init containers ran as %q", got)
		}
		ics := p.Status.InitContainerStatuses
		if len(ics) != 2 || ics[0].Name != "first" || ics[1].Name != "second" {
			t.Fatalf("init container statuses %v", ics)
		}
		for _, s := range ics {
			if tm := s.State.Terminated; tm == nil || tm.ExitCode != 0 || tm.Reason != "Completed" || !s.Ready || *s.Started {
				t.Errorf("init container %s: %s ready=%v", s.Name, stateString(s.State), s.Ready)
			}
		}
		if !ics[0].State.Terminated.FinishedAt.Time.After(ics[0].State.Terminated.StartedAt.Time) ||
			ics[1].State.Terminated.StartedAt.Before(&ics[0].State.Terminated.FinishedAt) {
			t.Errorf("init containers overlapped: %v then %v", ics[0].State.Terminated, ics[1].State.Terminated)
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		if _, err := c.client.CoreV1().ConfigMaps(c.ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "blue", "size": "L"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.client.CoreV1().Secrets(c.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := busybox("env", "env | sort; echo args: $0 $1")
		ctr := &p.Spec.Containers[0]
		ctr.Args = []string{"sh", "-c", "env | sort; echo args: $0 $1", "$(GREETING)", "$$(GREETING)"}
		ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		ctr.EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
		ctr.Env = []corev1.EnvVar{
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "color"}}},
			{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
			{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr.To(true)}}},
			{Name: "MEMORY_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "GREETING", Value: "hello $(NAME) in $(CFG_color), $(UNDEFINED) $$(NAME)"},
		}
		p.Labels = map[string]string{"app": "demo"}
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p = c.create(p)
		p = c.waitFor("env", 30*time.Second, "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		out := c.logs(p, "c", 0)
		for _, want := range []string{
			"NAME=env\n", "NODE=" + c.nodeName + "\n", "POD_IP=" + p.Status.PodIP + "\n", "HOST_IP=192.0.2.10\n", "APP=demo\n",
			"COLOR=blue\n", "PASSWORD=s3cret\n", "CFG_color=blue\n", "CFG_size=L\n", "MEMORY_MI=64\n", "CPU_LIMIT=2\n",
			"GREETING=hello env in blue, $(UNDEFINED) $(NAME)\n", "args: hello env in blue, $(UNDEFINED) $(NAME) $(GREETING)\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("environment lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "OPTIONAL=") {
			t.Error("an optional variable of a missing secret is set")
		}
		if ready, status, _ := c.kubectlGet("env"); ready != "0/1" || status != "Completed" {
			t.Errorf("kubectl: %s %s", ready, status)
		}
	})

	t.Run("missing configMap", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("nocm", "sleep 3600")
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
		p = c.create(p)
		c.waitFor("nocm", 30*time.Second, "in CreateContainerConfigError", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError" &&
				cs[0].State.Waiting.Message == `configmap "nope" not found` && p.Status.Phase == corev1.PodPending
		})
		c.waitKubectl("nocm", "CreateContainerConfigError", 5*time.Second)
		c.waitEvent(p, "Failed", `Error: configmap "nope" not found`, 10*time.Second)
	})

	t.Run("restart policies", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		never := busybox("never", "exit 3")
		never.Spec.RestartPolicy = corev1.RestartPolicyNever
		c.create(never)
		ok := busybox("onfailure-ok", "exit 0")
		ok.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		c.create(ok)
		fail := busybox("onfailure-fail", "exit 4")
		fail.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		c.create(fail)
		always := busybox("always", "exit 0")
		c.create(always)

		p := c.waitFor("never", 30*time.Second, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 || cs.State.Terminated.Reason != "Error" {
			t.Errorf("never: %s", statusString(p))
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && (cond.Status != "False" || cond.Reason != "PodFailed") {
				t.Errorf("never: Ready condition %+v", cond)
			}
			if cond.Type == corev1.PodReadyToStartContainers && cond.Status != "False" {
				t.Errorf("never: the sandbox of a finished pod is still up: %+v", cond)
			}
		}
		if _, status, _ := c.kubectlGet("never"); status != "Error" {
			t.Errorf("kubectl shows %s, want Error", status)
		}
		c.waitFor("onfailure-ok", 30*time.Second, "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		c.waitFor("onfailure-fail", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil &&
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated.ExitCode == 4
		})
		c.waitFor("always", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
	})

	t.Run("OOMKilled", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("oom", "dd if=/dev/zero of=/dev/null bs=100M count=1")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
		c.create(p)
		p = c.waitFor("oom", 30*time.Second, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if tm := p.Status.ContainerStatuses[0].State.Terminated; tm == nil || tm.Reason != "OOMKilled" || tm.ExitCode != 137 {
			t.Errorf("status %s", statusString(p))
		}
		if _, status, _ := c.kubectlGet("oom"); status != "OOMKilled" {
			t.Errorf("kubectl shows %s", status)
		}
	})

	t.Run("cgroup limits", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		g := busybox("guaranteed", "exec sleep 3600")
		g.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
		g = c.create(g)
		b := busybox("burstable", "exec sleep 3600")
		b.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
		b = c.create(b)
		g = c.waitFor("guaranteed", 30*time.Second, "running", running)
		b = c.waitFor("burstable", 30*time.Second, "running", running)
		for _, tc := range []struct {
			p          *corev1.Pod
			pod, ctr   map[string]string
			qos        corev1.PodQOSClass
			ctrIDIndex int
		}{
			{g, map[string]string{"memory/memory.limit_in_bytes": "67108864", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.shares": "512"},
				map[string]string{"memory/memory.limit_in_bytes": "67108864", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.shares": "512"}, corev1.PodQOSGuaranteed, 0},
			{b, map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712", "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.shares": "256"},
				map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712", "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.shares": "256"}, corev1.PodQOSBurstable, 0},
		} {
			if tc.p.Status.QOSClass != tc.qos {
				t.Errorf("%s: qos %s", tc.p.Name, tc.p.Status.QOSClass)
			}
			id := strings.TrimPrefix(tc.p.Status.ContainerStatuses[0].ContainerID, "containerd://")
			podDir := filepath.Join(c.cfg.CgroupParent, "pod"+string(tc.p.UID))
			for file, want := range tc.pod {
				ctrl, name, _ := strings.Cut(file, "/")
				if got := readCgroup(t, filepath.Join("/sys/fs/cgroup", ctrl, podDir, name)); got != want {
					t.Errorf("%s: pod %s = %s, want %s", tc.p.Name, file, got, want)
				}
			}
			for file, want := range tc.ctr {
				ctrl, name, _ := strings.Cut(file, "/")
				if got := readCgroup(t, filepath.Join("/sys/fs/cgroup", ctrl, podDir, id, name)); got != want {
					t.Errorf("%s: container %s = %s, want %s", tc.p.Name, file, got, want)
				}
			}
		}
	})

	t.Run("kill -9 restarts", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := c.create(busybox("killed", "exec sleep 3600"))
		p = c.waitFor("killed", 30*time.Second, "running", running)
		first := p.Status.ContainerStatuses[0].ContainerID
		id := strings.TrimPrefix(first, "containerd://")
		procs := readCgroup(t, filepath.Join("/sys/fs/cgroup/pids", c.cfg.CgroupParent, "pod"+string(p.UID), id, "cgroup.procs"))
		for _, f := range strings.Fields(procs) {
			pid, _ := strconv.Atoi(f)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
				t.Fatal(err)
			}
		}
		p = c.waitFor("killed", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return running(p) && cs.RestartCount == 1 && cs.ContainerID != first
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 137 || last.ContainerID != first {
			t.Errorf("last state %+v", last)
		}
		if _, _, restarts := c.kubectlGet("killed"); !strings.HasPrefix(restarts, "1") {
			t.Errorf("kubectl RESTARTS %q", restarts)
		}
	})

	t.Run("termination messages", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		file := busybox("msgfile", "echo -n bye > /dev/termination-log; exit 1")
		file.Spec.RestartPolicy = corev1.RestartPolicyNever
		c.create(file)
		logs := busybox("msglogs", "echo line1; echo oops; exit 2")
		logs.Spec.RestartPolicy = corev1.RestartPolicyNever
		logs.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		c.create(logs)
		for name, want := range map[string]string{"msgfile": "bye", "msglogs": "line1\noops\n"} {
			p := c.waitFor(name, 30*time.Second, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
			if tm := p.Status.ContainerStatuses[0].State.Terminated; tm == nil || tm.Message != want {
				t.Errorf("%s: %s, want message %q", name, statusString(p), want)
			}
		}
	})

	t.Run("hooks", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		hostDir := t.TempDir()
		p := busybox("hooks", "sleep 1; cat /tmp/poststart; exec sleep 3600")
		p.Spec.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}}}
		ctr := &p.Spec.Containers[0]
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
		ctr.Lifecycle = &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo from-poststart > /tmp/poststart"}}},
			PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo from-prestop > /out/prestop"}}},
		}
		p = c.create(p)
		p = c.waitFor("hooks", 30*time.Second, "running", running)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(c.logs(p, "c", 0), "from-poststart") {
			if time.Now().After(deadline) {
				t.Fatalf("postStart hook did not run: log %q", c.logs(p, "c", 0))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := c.client.CoreV1().Pods(c.ns).Delete(ctx, "hooks", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitGone("hooks", 30*time.Second)
		if data, err := os.ReadFile(filepath.Join(hostDir, "prestop")); err != nil || string(data) != "from-prestop\n" {
			t.Errorf("preStop hook: %q, %v", data, err)
		}

		bad := busybox("badhook", "exec sleep 3600")
		bad.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}}
		bad = c.create(bad)
		c.waitEvent(bad, "FailedPostStartHook", "PostStartHook failed", 30*time.Second)
		c.waitEvent(bad, "Killing", "FailedPostStartHook", 10*time.Second)
		c.waitFor("badhook", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
	})

	t.Run("probes", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("probed", "exec sleep 3600")
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
		p = c.create(p)
		p = c.waitFor("probed", 30*time.Second, "running", running)
		if c.probes.startCount(p.UID, "c") != 1 {
			t.Errorf("probes started %d times", c.probes.startCount(p.UID, "c"))
		}
		c.probes.setReady(p.UID, "c", false)
		p = c.waitFor("probed", 10*time.Second, "not ready", func(p *corev1.Pod) bool {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status == "False" && cond.Reason == "ContainersNotReady" && cond.Message == "containers with unready status: [c]"
				}
			}
			return false
		})
		if ready, status, _ := c.kubectlGet("probed"); ready != "0/1" || status != "Running" {
			t.Errorf("kubectl: %s %s", ready, status)
		}
		c.probes.setReady(p.UID, "c", true)
		p = c.waitFor("probed", 10*time.Second, "ready again", running)
		first := p.Status.ContainerStatuses[0].ContainerID
		c.probes.results <- probe.Result{PodUID: p.UID, Container: "c", Kind: probe.Liveness, Success: false}
		c.waitEvent(p, "Killing", "Container c failed liveness probe, will be restarted", 30*time.Second)
		c.waitFor("probed", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return running(p) && cs.RestartCount == 1 && cs.ContainerID != first
		})
		if c.probes.startCount(p.UID, "c") != 2 {
			t.Errorf("probes started %d times, want 2", c.probes.startCount(p.UID, "c"))
		}
	})

	t.Run("graceful termination", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		// "trapping" says the shell has its handler: a container is
		// running from the moment runc starts it, before its program (and
		// the image's init, whose Go runtime exits 2 on a SIGTERM that comes
		// before it listens) is ready for signals.
		traps := busybox("traps", `trap "exit 0" TERM; echo trapping; while true; do sleep 0.2; done`)
		second := traps.Spec.Containers[0]
		second.Name = "second"
		traps.Spec.Containers = append(traps.Spec.Containers, second) // killed in parallel
		c.create(traps)
		ignores := busybox("ignores", "")
		ignores.Spec.Containers[0].Args = nil
		ignores.Spec.Containers[0].Command = []string{"sh", "-c", "while true; do sleep 1; done"} // PID 1: SIGTERM does nothing
		ignores.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3)
		c.create(ignores)
		p := c.waitFor("traps", 30*time.Second, "running", running)
		c.waitFor("ignores", 30*time.Second, "running", running)
		for _, name := range []string{"c", "second"} {
			c.waitLog(p, name, "trapping", 30*time.Second)
		}
		type result struct {
			took time.Duration
			last *corev1.Pod
		}
		results := map[string]chan result{"traps": make(chan result, 1), "ignores": make(chan result, 1)}
		for name, ch := range results {
			w, err := c.client.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			go func() {
				defer w.Stop()
				var last *corev1.Pod
				for ev := range w.ResultChan() {
					switch ev.Type {
					case watch.Modified:
						last = ev.Object.(*corev1.Pod)
					case watch.Deleted:
						ch <- result{time.Since(start), last}
						return
					}
				}
			}()
			if err := c.client.CoreV1().Pods(c.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for name, ch := range results {
			var r result
			select {
			case r = <-ch:
			case <-time.After(40 * time.Second):
				t.Fatalf("%s not deleted", name)
			}
			if name == "traps" && r.took > 2500*time.Millisecond {
				t.Errorf("traps: deleted after %v, it exits on SIGTERM", r.took)
			}
			if name == "ignores" && (r.took < 3*time.Second || r.took > 6*time.Second) {
				t.Errorf("ignores: deleted after %v, want its 3s grace period", r.took)
			}
			if r.last == nil || r.last.DeletionTimestamp == nil {
				t.Fatalf("%s: no final status", name)
			}
			wantPhase, wantCode := corev1.PodSucceeded, int32(0)
			if name == "ignores" {
				wantPhase, wantCode = corev1.PodFailed, 137
			}
			if tm := r.last.Status.ContainerStatuses[0].State.Terminated; r.last.Status.Phase != wantPhase || tm == nil || tm.ExitCode != wantCode {
				t.Errorf("%s: final status %s", name, statusString(r.last))
			}
		}
	})
}

// Security contexts, sidecars, /etc/hosts, subPath mounts and sandbox
// recreation.
func TestPodFeatures(t *testing.T) {
	t.Parallel()
	c := newCluster(t)

	t.Run("security context", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("secure", "id -u; id -g; id -G; touch /rootfs-write 2>/dev/null || echo read-only; grep CapEff /proc/self/status; exec sleep 3600")
		p.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3000), FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{4000},
		}
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
			ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
		p = c.create(p)
		p = c.waitFor("secure", 30*time.Second, "running", running)
		want := "1000\n3000\n3000 2000 4000\nread-only\nCapEff:\t0000000000000000\n"
		deadline := time.Now().Add(5 * time.Second)
		for got := c.logs(p, "c", 0); got != want; got = c.logs(p, "c", 0) {
			if time.Now().After(deadline) {
				t.Fatalf("output %q, want %q", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}

		priv := busybox("privileged", "grep CapEff /proc/self/status")
		priv.Spec.RestartPolicy = corev1.RestartPolicyNever
		priv.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		priv = c.create(priv)
		priv = c.waitFor("privileged", 30*time.Second, "done", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if got := c.logs(priv, "c", 0); !strings.Contains(got, "CapEff:\t000001f") { // every capability (root here lacks CAP_SYS_RESOURCE)
			t.Errorf("privileged container has %q", got)
		}

		nonRoot := busybox("nonroot", "true")
		nonRoot.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
		nonRoot = c.create(nonRoot)
		msg := fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: c)", "nonroot_"+c.ns+"("+string(nonRoot.UID)+")")
		c.waitFor("nonroot", 30*time.Second, "refused", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError" && cs[0].State.Waiting.Message == msg
		})
	})

	t.Run("sidecar", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("sidecar", "cat /work/side; sleep 2")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
		p.Spec.Containers[0].VolumeMounts = mount
		p.Spec.InitContainers = []corev1.Container{{
			Name: "side", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Args: []string{"sh", "-c", "echo side-up > /work/side; exec sleep 3600"}, VolumeMounts: mount,
		}}
		p = c.create(p)
		c.waitFor("sidecar", 30*time.Second, "running with its sidecar", func(p *corev1.Pod) bool {
			ics := p.Status.InitContainerStatuses
			return running(p) && len(ics) == 1 && ics[0].State.Running != nil && ics[0].Ready
		})
		if ready, status, _ := c.kubectlGet("sidecar"); ready != "2/2" || status != "Running" {
			t.Errorf("kubectl: %s %s", ready, status)
		}
		p = c.waitFor("sidecar", 30*time.Second, "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if got := c.logs(p, "c", 0); got != "side-up\n" {
			t.Errorf("the container ran before its sidecar: %q", got)
		}
		if ics := p.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil {
			t.Errorf("the sidecar still runs: %s", statusString(p))
		}
	})

	t.Run("hosts, DNS, hostname, subPath", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("names", "cat /etc/hosts; echo; hostname; touch /sub/made; cat /etc/resolv.conf")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/sub", SubPath: "a/b"}}
		p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"alias1", "alias2"}}}
		p = c.create(p)
		p = c.waitFor("names", 30*time.Second, "done", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		out := c.logs(p, "c", 0)
		hosts := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
			p.Status.PodIP + "\tnames\n\n# Entries added by HostAliases.\n10.1.2.3\talias1\talias2\n\nnames\n"
		if !strings.HasPrefix(out, hosts) {
			t.Errorf("hosts and hostname:\n%s\nwant\n%s", out, hosts)
		}
		host, _ := os.ReadFile("/etc/resolv.conf")
		for _, line := range strings.Split(string(host), "\n") {
			if strings.HasPrefix(line, "nameserver") && !strings.Contains(out, line) {
				t.Errorf("resolv.conf lacks the host's %q:\n%s", line, out)
			}
		}
		if _, err := os.Stat(filepath.Join(c.volumes.dir, string(p.UID), "data", "a", "b", "made")); err != nil {
			// the volume is torn down once the pod finished: it must be gone
			if !c.volumes.tornDown(p.UID) {
				t.Errorf("subPath file: %v", err)
			}
		}
	})

	t.Run("image update", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := c.create(busybox("update", "exec sleep 3600"))
		p = c.waitFor("update", 30*time.Second, "running", running)
		first := p.Status.ContainerStatuses[0].ContainerID
		p.Spec.Containers[0].Image = "busybox:latest"
		if _, err := c.client.CoreV1().Pods(c.ns).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		p = c.waitFor("update", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return running(p) && cs.ContainerID != first && cs.RestartCount == 1 && cs.Image == "busybox:latest"
		})
		c.waitEvent(p, "Killing", "Container c definition changed, will be restarted", 5*time.Second)
	})

	t.Run("sandbox recreated", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := c.create(busybox("resandbox", "exec sleep 3600"))
		p = c.waitFor("resandbox", 30*time.Second, "running", running)
		sbs := c.sandboxes(p.UID)
		if len(sbs) != 1 {
			t.Fatalf("sandboxes %v", sbs)
		}
		procs := readCgroup(t, filepath.Join("/sys/fs/cgroup/pids", c.cfg.CgroupParent, "pod"+string(p.UID), sbs[0].Id, "cgroup.procs"))
		for _, f := range strings.Fields(procs) {
			pid, _ := strconv.Atoi(f)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		c.waitFor("resandbox", 30*time.Second, "running in a new sandbox", func(p *corev1.Pod) bool {
			return running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
		})
		c.waitEvent(p, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.", 5*time.Second)
		var ready int
		for _, sb := range c.sandboxes(p.UID) {
			if sb.State == 0 {
				ready++
				if sb.Metadata.Attempt != 1 {
					t.Errorf("new sandbox attempt %d", sb.Metadata.Attempt)
				}
			}
		}
		if ready != 1 {
			t.Errorf("%d ready sandboxes", ready)
		}
	})
}

func readCgroup(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

var _ = fmt.Sprint
