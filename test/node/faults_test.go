package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestFaults covers pods that cannot run as asked, and a container killed
// behind the agent's back.
func TestFaults(t *testing.T) {
	t.Parallel()
	c := startUp(t)
	subtests(t, map[string]func(*testing.T){
		"ImagePull":     c.testImagePull,
		"OutOfCPU":      c.testOutOfCPU,
		"ConfigMissing": c.testConfigMissing,
		"KilledProcess": c.testKilledProcess,
	})
}

const badImagePod = `
apiVersion: v1
kind: Pod
metadata: {name: bad-image}
spec:
  containers:
  - name: main
    image: berth/does-not-exist:v0
`

// testImagePull: an image the registry does not have leaves the container
// waiting with ErrImagePull, then ImagePullBackOff, with a message, and
// Failed and BackOff events.
func (c *cluster) testImagePull(t *testing.T) {
	ns := c.namespace(t, "pull")
	c.apply(t, ns, badImagePod)
	seen := map[string]string{}
	statuses := map[string]bool{}
	waitFor(t, podTimeout, "bad-image: ErrImagePull and ImagePullBackOff", func() (bool, string) {
		if r := c.run(nil, "get", "pod", "-n", ns, "bad-image", "--no-headers"); r.code == 0 {
			if f := strings.Fields(r.stdout); len(f) >= 3 {
				statuses[f[2]] = true
			}
		}
		p, err := c.tryPod(ns, "bad-image")
		if err != nil {
			return false, err.Error()
		}
		if s := p.Status.ContainerStatuses; len(s) == 1 && s[0].State.Waiting != nil {
			seen[s[0].State.Waiting.Reason] = s[0].State.Waiting.Message
		}
		_, back := seen["ImagePullBackOff"]
		return back && statuses["ImagePullBackOff"], fmt.Sprintf("waiting reasons seen: %q; kubectl STATUS seen: %v\n%s", seen, statuses, podSummary(p))
	})
	for reason, msg := range seen {
		if (reason == "ErrImagePull" || reason == "ImagePullBackOff") && msg == "" {
			t.Errorf("bad-image: waiting %s without a message", reason)
		}
	}
	if !strings.Contains(seen["ImagePullBackOff"], "berth/does-not-exist:v0") {
		t.Errorf("bad-image: the ImagePullBackOff message %q does not name the image", seen["ImagePullBackOff"])
	}
	p := c.pod(t, ns, "bad-image")
	if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].ContainerID != "" {
		t.Errorf("bad-image: want a Pending pod without a container: %s", podSummary(p))
	}
	if evs, _ := c.findEvents(t, ns, "bad-image", "Failed", "berth/does-not-exist:v0"); len(evs) == 0 {
		t.Errorf("bad-image: no Failed event about pulling the image:\n%s", describeEvents(c.events(t, ns, "bad-image")))
	}
	if evs, _ := c.findEvents(t, ns, "bad-image", "BackOff", "Back-off pulling image"); len(evs) == 0 {
		t.Errorf("bad-image: no BackOff event \"Back-off pulling image\":\n%s", describeEvents(c.events(t, ns, "bad-image")))
	}
}

// testOutOfCPU: a pod bound straight to the node (no scheduler) asking for
// more CPU than the node has is rejected by the node: Failed, OutOfcpu.
func (c *cluster) testOutOfCPU(t *testing.T) {
	ns := c.namespace(t, "outofcpu")
	c.apply(t, ns, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: greedy}
spec:
  nodeName: %s
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    resources:
      requests: {cpu: "1000"}
`, c.node))
	p := c.waitPod(t, ns, "greedy", podTimeout, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "OutOfcpu" || !strings.Contains(p.Status.Message, "cpu") {
		t.Errorf("greedy: reason %q message %q, want OutOfcpu and a message about cpu", p.Status.Reason, p.Status.Message)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.ContainerID != "" || s.State.Running != nil {
			t.Errorf("greedy: a rejected pod ran a container: %s", podSummary(p))
		}
	}
	if got := c.kubectl(t, "get", "pod", "-n", ns, "greedy", "--no-headers"); !strings.Contains(got, "OutOfcpu") {
		t.Errorf("kubectl get pod greedy: %q, want STATUS OutOfcpu", got)
	}
}

// testConfigMissing: a container whose environment names a ConfigMap that
// does not exist waits with CreateContainerConfigError, and starts once the
// ConfigMap is created.
func (c *cluster) testConfigMissing(t *testing.T) {
	ns := c.namespace(t, "configerr")
	c.apply(t, ns, `
apiVersion: v1
kind: Pod
metadata: {name: needs-config}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'echo "mode=$MODE"; exec sleep 3600']
    env:
    - name: MODE
      valueFrom:
        configMapKeyRef: {name: later, key: mode}
`)
	c.waitPod(t, ns, "needs-config", podTimeout, "waiting with CreateContainerConfigError", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == "CreateContainerConfigError" &&
			strings.Contains(s[0].State.Waiting.Message, `"later"`)
	})
	c.kubectl(t, "create", "configmap", "-n", ns, "later", "--from-literal=mode=fast")
	c.waitRunningReady(t, ns, "needs-config")
	waitFor(t, 30*time.Second, "logs of needs-config", func() (bool, string) {
		r := c.run(nil, "logs", "-n", ns, "needs-config")
		return r.stdout == "mode=fast\n", r.String()
	})
}

// testKilledProcess: the container's process killed with SIGKILL from the
// host (found through its cgroup) is restarted: restartCount 1, last state
// terminated with 137, a new container that answers again.
func (c *cluster) testKilledProcess(t *testing.T) {
	ns := c.namespace(t, "kill")
	c.apply(t, ns, `
apiVersion: v1
kind: Pod
metadata: {name: victim}
spec:
  containers:
  - name: demo
    image: berth/demo:v1
    readinessProbe:
      httpGet: {path: /readyz, port: 8080}
      periodSeconds: 1
`)
	p := c.waitRunningReady(t, ns, "victim")
	oldID := p.Status.ContainerStatuses[0].ContainerID
	pids, err := c.containerPIDs(oldID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 1 {
		t.Fatalf("want the one process of the demo container, found %v", pids)
	}
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0])); !strings.HasPrefix(string(cmd), "/demo") {
		t.Fatalf("process %d of the container runs %q, not /demo", pids[0], cmd)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p = c.waitPod(t, ns, "victim", podTimeout, "restarted and Ready", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].RestartCount == 1 && s[0].State.Running != nil && podReady(p)
	})
	s := p.Status.ContainerStatuses[0]
	if s.ContainerID == oldID {
		t.Errorf("victim: restarted in the same container %s", oldID)
	}
	if term := s.LastTerminationState.Terminated; term == nil || term.ExitCode != 137 || term.Reason != "Error" {
		t.Errorf("victim: last state %s, want terminated Error with exit 137", stateString(s.LastTerminationState))
	}
	if body, err := httpGet("http://" + p.Status.PodIP + ":8080/"); err != nil || body != "berth demo v1, pod victim\n" {
		t.Errorf("victim after its restart: GET / = %q (%v)", body, err)
	}
}

// containerPIDs are the host pids of a container's processes, from its
// memory cgroup.
func (c *cluster) containerPIDs(containerID string) ([]int, error) {
	dir, err := c.containerCgroup("memory", containerID)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
