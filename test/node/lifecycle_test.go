package node

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestContainerLifecycle covers what the kubelet does to running
// containers: probes, restarts with back-off, OOM kills and graceful
// termination.
func TestContainerLifecycle(t *testing.T) {
	t.Parallel()
	c := startUp(t)
	subtests(t, map[string]func(*testing.T){
		"Probes":              c.testProbes,
		"CrashLoop":           c.testCrashLoop,
		"OOMKilled":           c.testOOMKilled,
		"GracefulTermination": c.testGracefulTermination,
	})
}

const probePods = `
apiVersion: v1
kind: Pod
metadata: {name: http-ready}
spec:
  containers:
  - name: demo
    image: berth/demo:v1
    readinessProbe:
      httpGet: {path: /readyz, port: 8080}
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 3
---
apiVersion: v1
kind: Pod
metadata: {name: tcp-ready}
spec:
  containers:
  - name: demo
    image: berth/demo:v1
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 8080}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 3
---
apiVersion: v1
kind: Pod
metadata: {name: exec-ready}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: http-unready}
spec:
  containers:
  - name: demo
    image: berth/demo:v1
    readinessProbe:
      httpGet: {path: /readyz, port: 8081}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: grpc-unready}
spec:
  containers:
  - name: demo
    image: berth/demo:v1
    readinessProbe:
      grpc: {port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'touch /tmp/alive; exec sleep 3600']
    livenessProbe:
      exec: {command: [cat, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: startup}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 300
    livenessProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 1
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
`

// testProbes: passing httpGet and tcpSocket probes make pods Ready and keep
// them running; failing readiness (exec, httpGet, grpc against a server
// that does not speak it) keeps a running pod out of Ready with Unhealthy
// events and no restart, until the probe passes; failing liveness restarts
// the container (Unhealthy, Killing); a startup probe holds back liveness
// and readiness until it passes.
func (c *cluster) testProbes(t *testing.T) {
	ns := c.namespace(t, "probes")
	c.apply(t, ns, probePods)

	for _, name := range []string{"http-ready", "tcp-ready"} {
		p := c.waitRunningReady(t, ns, name)
		if s := p.Status.ContainerStatuses[0]; !s.Ready || s.Started == nil || !*s.Started {
			t.Errorf("%s: Ready pod whose container is not ready and started: %s", name, podSummary(p))
		}
	}

	// Failing readiness: Running, not Ready, Unhealthy events, no restarts.
	unready := func(name, what string) {
		t.Helper()
		waitFor(t, podTimeout, fmt.Sprintf("%s: 3 failed readiness probes (%s)", name, what), func() (bool, string) {
			evs, n := c.findEvents(t, ns, name, "Unhealthy", "Readiness probe failed")
			return n >= 3, describeEvents(evs) + podSummary(c.pod(t, ns, name))
		})
		p := c.pod(t, ns, name)
		s := p.Status.ContainerStatuses
		if p.Status.Phase != corev1.PodRunning || len(s) != 1 || s[0].State.Running == nil {
			t.Errorf("%s: want a Running pod with its container running: %s", name, podSummary(p))
			return
		}
		if s[0].Ready || podCondition(p, corev1.PodReady) != corev1.ConditionFalse || podCondition(p, corev1.ContainersReady) != corev1.ConditionFalse {
			t.Errorf("%s: readiness fails, yet ready=%v Ready=%s ContainersReady=%s", name, s[0].Ready, podCondition(p, corev1.PodReady), podCondition(p, corev1.ContainersReady))
		}
		if s[0].RestartCount != 0 {
			t.Errorf("%s: a failing readiness probe restarted the container: %s", name, podSummary(p))
		}
		evs, _ := c.findEvents(t, ns, name, "Unhealthy", "Readiness probe failed")
		if len(evs) > 0 && evs[0].Type != corev1.EventTypeWarning {
			t.Errorf("%s: Unhealthy event of type %s, want Warning", name, evs[0].Type)
		}
	}
	unready("exec-ready", "exec cat /tmp/ready")
	unready("http-unready", "httpGet on a closed port")
	unready("grpc-unready", "grpc against an HTTP/1 server")
	c.kubectl(t, "exec", "-n", ns, "exec-ready", "--", "touch", "/tmp/ready")
	c.waitRunningReady(t, ns, "exec-ready")

	// Failing liveness restarts the container.
	p := c.waitRunningReady(t, ns, "liveness")
	firstID := p.Status.ContainerStatuses[0].ContainerID
	c.kubectl(t, "exec", "-n", ns, "liveness", "--", "rm", "/tmp/alive")
	p = c.waitPod(t, ns, "liveness", podTimeout, "restarted and running again", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].RestartCount >= 1 && s[0].State.Running != nil && podReady(p)
	})
	if s := p.Status.ContainerStatuses[0]; s.ContainerID == firstID {
		t.Errorf("liveness: restarted, but the container ID is unchanged (%s)", firstID)
	}
	if evs, _ := c.findEvents(t, ns, "liveness", "Unhealthy", "Liveness probe failed"); len(evs) == 0 {
		t.Errorf("liveness: no Unhealthy event \"Liveness probe failed\":\n%s", describeEvents(c.events(t, ns, "liveness")))
	}
	if evs, _ := c.findEvents(t, ns, "liveness", "Killing", "failed liveness probe"); len(evs) == 0 {
		t.Errorf("liveness: no Killing event \"... failed liveness probe, will be restarted\":\n%s", describeEvents(c.events(t, ns, "liveness")))
	}

	// The startup probe gates liveness (failureThreshold 1 at 1s: it would
	// have restarted the container) and readiness.
	waitFor(t, podTimeout, "startup: 4 failed startup probes", func() (bool, string) {
		evs, n := c.findEvents(t, ns, "startup", "Unhealthy", "Startup probe failed")
		return n >= 4, describeEvents(evs) + podSummary(c.pod(t, ns, "startup"))
	})
	p = c.pod(t, ns, "startup")
	if s := p.Status.ContainerStatuses; len(s) != 1 || s[0].RestartCount != 0 || s[0].Ready || s[0].Started == nil || *s[0].Started || s[0].State.Running == nil {
		t.Errorf("startup: while the startup probe fails want a running container, not started, not ready, no restarts: %s", podSummary(p))
	}
	if podReady(p) {
		t.Errorf("startup: pod Ready before its startup probe passed")
	}
	c.kubectl(t, "exec", "-n", ns, "startup", "--", "touch", "/tmp/started")
	p = c.waitPod(t, ns, "startup", podTimeout, "started and Ready", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].Started != nil && *s[0].Started && s[0].Ready && podReady(p)
	})
	if s := p.Status.ContainerStatuses[0]; s.RestartCount != 0 {
		t.Errorf("startup: restarted %d times: liveness ran before the startup probe passed", s.RestartCount)
	}
	if evs, _ := c.findEvents(t, ns, "startup", "Unhealthy", "Liveness probe failed"); len(evs) > 0 {
		t.Errorf("startup: liveness probed before the startup probe passed:\n%s", describeEvents(evs))
	}

	// Passing liveness probes restarted nothing.
	for _, name := range []string{"http-ready", "tcp-ready"} {
		p := c.pod(t, ns, name)
		if s := p.Status.ContainerStatuses[0]; s.RestartCount != 0 || !podReady(p) {
			t.Errorf("%s: passing probes, yet: %s", name, podSummary(p))
		}
	}
}

const crashPods = `
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'echo crashing; exit 1']
---
apiVersion: v1
kind: Pod
metadata: {name: succeeds}
spec:
  restartPolicy: OnFailure
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'exit 0']
---
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'exit 2']
`

// testCrashLoop: a container that exits 1 under restartPolicy Always is
// restarted with a growing back-off: CrashLoopBackOff in kubectl get pods,
// BackOff events; a container that succeeds under OnFailure completes the
// pod, one that fails under Never fails it, neither restarting.
func (c *cluster) testCrashLoop(t *testing.T) {
	ns := c.namespace(t, "crash")
	c.apply(t, ns, crashPods)

	starts := map[time.Time]bool{}
	sawStatus := map[string]bool{}
	var last *corev1.Pod
	waitFor(t, 240*time.Second, "crasher: 3 restarts", func() (bool, string) {
		if r := c.run(nil, "get", "pod", "-n", ns, "crasher", "--no-headers"); r.code == 0 {
			if f := strings.Fields(r.stdout); len(f) >= 3 {
				sawStatus[f[2]] = true
			}
		}
		p, err := c.tryPod(ns, "crasher")
		if err != nil {
			return false, err.Error()
		}
		last = p
		if len(p.Status.ContainerStatuses) == 1 {
			s := p.Status.ContainerStatuses[0]
			for _, st := range []corev1.ContainerState{s.State, s.LastTerminationState} {
				switch {
				case st.Running != nil:
					starts[st.Running.StartedAt.Time] = true
				case st.Terminated != nil && !st.Terminated.StartedAt.IsZero():
					starts[st.Terminated.StartedAt.Time] = true
				}
			}
			return s.RestartCount >= 3 && len(starts) >= 4, podSummary(p)
		}
		return false, podSummary(p)
	})
	s := last.Status.ContainerStatuses[0]
	if term := s.LastTerminationState.Terminated; term == nil || term.ExitCode != 1 || term.Reason != "Error" {
		t.Errorf("crasher: lastState %s, want terminated Error with exit 1", stateString(s.LastTerminationState))
	}
	if !sawStatus["CrashLoopBackOff"] {
		t.Errorf("kubectl get pod crasher never showed STATUS CrashLoopBackOff (saw %v)", sawStatus)
	}
	waitFor(t, 60*time.Second, "crasher: waiting CrashLoopBackOff with a back-off message", func() (bool, string) {
		p := c.pod(t, ns, "crasher")
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && strings.Contains(w.Message, "back-off"), podSummary(p)
	})
	if got := c.kubectl(t, "get", "pod", "-n", ns, "crasher", "--no-headers"); !strings.Contains(got, "0/1") {
		t.Errorf("kubectl get pod crasher: %q, want READY 0/1", got)
	}

	// The delays between starts grow (10s, 20s, 40s... in the kubelet).
	var times []time.Time
	for st := range starts {
		times = append(times, st)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	t.Logf("crasher: gaps between starts: %v", gaps)
	if n := len(gaps); n < 3 || gaps[n-1] < gaps[n-2]+4*time.Second || gaps[n-2] < 5*time.Second {
		t.Errorf("crasher: back-off does not grow: gaps between starts %v (want each back-off longer than the one before, the first ones ~10s, ~20s)", gaps)
	}
	if evs, n := c.findEvents(t, ns, "crasher", "BackOff", "Back-off restarting failed container"); n < 2 {
		t.Errorf("crasher: %d BackOff events \"Back-off restarting failed container\", want >= 2; events:\n%s", n, describeEvents(c.events(t, ns, "crasher")))
	} else if evs[0].Type != corev1.EventTypeWarning {
		t.Errorf("crasher: BackOff event of type %s, want Warning", evs[0].Type)
	}
	if out := c.kubectl(t, "logs", "-n", ns, "crasher", "--previous"); out != "crashing\n" {
		t.Errorf("kubectl logs crasher --previous: %q, want \"crashing\\n\"", out)
	}

	p := c.waitPod(t, ns, "succeeds", podTimeout, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if s := p.Status.ContainerStatuses; len(s) != 1 || s[0].RestartCount != 0 || s[0].State.Terminated == nil || s[0].State.Terminated.Reason != "Completed" {
		t.Errorf("succeeds: want one run terminated Completed: %s", podSummary(p))
	}
	if got := c.kubectl(t, "get", "pod", "-n", ns, "succeeds", "--no-headers"); !strings.Contains(got, "Completed") {
		t.Errorf("kubectl get pod succeeds: %q, want STATUS Completed", got)
	}
	p = c.waitPod(t, ns, "fails", podTimeout, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if s := p.Status.ContainerStatuses; len(s) != 1 || s[0].RestartCount != 0 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 2 || s[0].State.Terminated.Reason != "Error" {
		t.Errorf("fails: want one run terminated Error with exit 2: %s", podSummary(p))
	}
	if got := c.kubectl(t, "get", "pod", "-n", ns, "fails", "--no-headers"); !strings.Contains(got, " Error ") {
		t.Errorf("kubectl get pod fails: %q, want STATUS Error", got)
	}
}

const oomPod = `
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'x=$(yes | head -c 200000000); echo survived']
    resources:
      limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hog-again}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'x=$(yes | head -c 200000000); echo survived']
    resources:
      limits: {memory: 32Mi}
`

// testOOMKilled: a container allocating past its 32Mi limit is killed by
// the kernel: terminated with reason OOMKilled and exit code 137 (in state
// under restartPolicy Never, in lastState once restarted under Always).
func (c *cluster) testOOMKilled(t *testing.T) {
	ns := c.namespace(t, "oom")
	c.apply(t, ns, oomPod)
	p := c.waitPod(t, ns, "hog", podTimeout, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	s := p.Status.ContainerStatuses
	if len(s) != 1 || s[0].State.Terminated == nil {
		t.Fatalf("hog: want a terminated container: %s", podSummary(p))
	}
	if term := s[0].State.Terminated; term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("hog: terminated %s with exit %d, want OOMKilled with 137", term.Reason, term.ExitCode)
	}
	if got := c.kubectl(t, "get", "pod", "-n", ns, "hog", "--no-headers"); !strings.Contains(got, "OOMKilled") {
		t.Errorf("kubectl get pod hog: %q, want STATUS OOMKilled", got)
	}
	if out := c.kubectl(t, "logs", "-n", ns, "hog"); strings.Contains(out, "survived") {
		t.Errorf("hog survived its memory limit: logs %q", out)
	}

	// Restarted (restartPolicy Always), the OOM kill shows in lastState.
	p = c.waitPod(t, ns, "hog-again", podTimeout, "restarted after an OOM kill", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].RestartCount >= 1 && s[0].LastTerminationState.Terminated != nil
	})
	if term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("hog-again: lastState terminated %s with exit %d, want OOMKilled with 137", term.Reason, term.ExitCode)
	}
}

const terminationPods = `
apiVersion: v1
kind: Pod
metadata: {name: handles-term}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap 'echo got TERM; sleep 2; exit 0' TERM; touch /tmp/trapped; while true; do sleep 1 & wait; done"]
    readinessProbe: {exec: {command: [test, -e, /tmp/trapped]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: slow-term}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap 'sleep 6; exit 0' TERM; touch /tmp/trapped; while true; do sleep 1 & wait; done"]
    readinessProbe: {exec: {command: [test, -e, /tmp/trapped]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: ignores-term}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap '' TERM; while true; do sleep 1; done"]
`

// testGracefulTermination: deleting a pod sends SIGTERM and waits for the
// process as long as it takes to exit (2s, 6s), not the 30s grace period;
// a process ignoring SIGTERM is killed when its grace period (3s) ends.
// The readiness probes say the shells have set their traps: a SIGTERM
// before that is ignored by a shell that is its container's PID 1.
func (c *cluster) testGracefulTermination(t *testing.T) {
	ns := c.namespace(t, "graceful")
	c.apply(t, ns, terminationPods)
	names := []string{"handles-term", "slow-term", "ignores-term"}
	for _, name := range names {
		c.waitRunningReady(t, ns, name)
	}
	want := map[string][2]time.Duration{
		"handles-term": {1500 * time.Millisecond, 15 * time.Second},
		"slow-term":    {5500 * time.Millisecond, 20 * time.Second},
		"ignores-term": {2500 * time.Millisecond, 15 * time.Second},
	}
	var wg sync.WaitGroup
	took := map[string]time.Duration{}
	results := map[string]kubectlResult{}
	var mu sync.Mutex
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r := c.run(nil, "delete", "pod", "-n", ns, name, "--wait=true")
			mu.Lock()
			took[name], results[name] = time.Since(start), r
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, name := range names {
		if r := results[name]; r.code != 0 {
			t.Errorf("%s", r)
			continue
		}
		d, w := took[name], want[name]
		t.Logf("%s: deleted in %v", name, d.Round(time.Millisecond))
		if d < w[0] || d > w[1] {
			t.Errorf("%s: deletion took %v, want between %v and %v", name, d.Round(time.Millisecond), w[0], w[1])
		}
	}
	for _, name := range names {
		if evs, _ := c.findEvents(t, ns, name, "Killing", "Stopping container"); len(evs) == 0 {
			t.Errorf("%s: no Killing event \"Stopping container main\":\n%s", name, describeEvents(c.events(t, ns, name)))
		}
	}
}
