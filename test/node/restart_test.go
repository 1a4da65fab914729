package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// podState is what must not change when berth or containerd restarts
// under running pods.
type podState struct {
	ip, containerID string
	restarts        int32
	pids            []int
}

func (s podState) String() string {
	return fmt.Sprintf("ip=%s container=%s restarts=%d pids=%v", s.ip, s.containerID, s.restarts, s.pids)
}

// snapshot records the state of the Running and Ready pods of a selector.
func (c *cluster) snapshot(t *testing.T, ns, selector string) map[string]podState {
	t.Helper()
	pods, err := c.pods(ns, selector)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]podState{}
	for _, p := range pods {
		s := p.Status.ContainerStatuses
		if len(s) != 1 || !podReady(&p) {
			t.Fatalf("snapshot: pod not Ready: %s", podSummary(&p))
		}
		pids, err := c.containerPIDs(s[0].ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name] = podState{ip: p.Status.PodIP, containerID: s[0].ContainerID, restarts: s[0].RestartCount, pids: pids}
	}
	return out
}

// answering asserts that every pod answers HTTP as itself (while berth may
// be down: the pods must not need it).
func answering(t *testing.T, pods map[string]podState, when string) {
	t.Helper()
	for name, s := range pods {
		body, err := httpGet("http://" + s.ip + ":8080/")
		if want := "berth demo v1, pod " + name + "\n"; err != nil || body != want {
			t.Errorf("%s: pod %s (%s) answers %q (%v), want %q", when, name, s.ip, body, err, want)
		}
	}
}

// checkAdopted waits for the agent to run a new pod (so that it has synced
// the pods it found), then asserts that the pods are the same containers,
// with the same processes, never restarted, Ready and answering.
func (c *cluster) checkAdopted(t *testing.T, ns string, before map[string]podState, marker string) {
	t.Helper()
	c.apply(t, ns, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
`, marker))
	c.waitRunningReady(t, ns, marker)
	waitFor(t, podTimeout, "the same pods, containers and processes, Ready", func() (bool, string) {
		pods, err := c.pods(ns, "app=demo")
		if err != nil {
			return false, err.Error()
		}
		var b strings.Builder
		ok := len(pods) == len(before)
		for i := range pods {
			p := &pods[i]
			was, known := before[p.Name]
			s := p.Status.ContainerStatuses
			fmt.Fprintf(&b, "%s\n  before: %s\n", podSummary(p), was)
			if !known || len(s) != 1 || s[0].ContainerID != was.containerID || s[0].RestartCount != 0 ||
				p.Status.PodIP != was.ip || !podReady(p) || s[0].State.Running == nil {
				ok = false
				continue
			}
			pids, err := c.containerPIDs(s[0].ContainerID)
			if err != nil || !slices.Equal(pids, was.pids) {
				fmt.Fprintf(&b, "  pids now %v (%v)\n", pids, err)
				ok = false
			}
		}
		return ok, b.String()
	})
	answering(t, before, "after the restart")
	for name := range before {
		if evs, n := c.findEvents(t, ns, name, "Started", ""); n != 1 {
			t.Errorf("pod %s: %d Started events, want 1 (its container started again?):\n%s", name, n, describeEvents(evs))
		}
		if evs, _ := c.findEvents(t, ns, name, "Killing", ""); len(evs) > 0 {
			t.Errorf("pod %s: Killing events after the restart:\n%s", name, describeEvents(evs))
		}
	}
}

// containerdPID is the pid of the cluster's containerd (from its pid
// file), checked to be a live containerd of this data dir.
func (c *cluster) containerdPID(t *testing.T) (int, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dataDir, "agent", "containerd", "containerd.pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, err
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, fmt.Errorf("containerd %d: %w", pid, err)
	}
	if line := strings.ReplaceAll(string(cmd), "\x00", " "); !strings.Contains(line, "containerd") || !strings.Contains(line, c.dataDir+"/") {
		return 0, fmt.Errorf("pid %d is not this cluster's containerd: %s", pid, line)
	}
	return pid, nil
}

// nodeReady is the status of the node's Ready condition.
func (c *cluster) nodeReady(t *testing.T) string {
	t.Helper()
	return c.jsonpath(t, `{.status.conditions[?(@.type=="Ready")].status}`, "node", c.node)
}

// TestAgentRestart: with --keep-pods the pods outlive berth, stopped with
// SIGINT or killed with SIGKILL, and the next start adopts them: same
// containers and processes, no restart, still answering. Then containerd
// is killed: the agent restarts it, the pods keep answering, the node
// stays Ready and new pods start.
func TestAgentRestart(t *testing.T) {
	t.Parallel()
	c := startUp(t, withKeepPods())
	ns := c.namespace(t, "adopt")
	c.apply(t, ns, demoDeployment)
	c.waitDemo(t, ns, "app=demo", "v1", 3)
	before := c.snapshot(t, ns, "app=demo")

	// 1. SIGINT with --keep-pods: berth exits 0, containerd and the pods stay.
	ctrd, err := c.containerdPID(t)
	if err != nil {
		t.Fatal(err)
	}
	c.stop(t, 30*time.Second)
	if _, err := c.containerdPID(t); err != nil {
		t.Errorf("containerd did not outlive berth stopped with --keep-pods: %v", err)
	}
	answering(t, before, "berth stopped with --keep-pods")
	c.start(t, true)
	c.checkAdopted(t, ns, before, "marker-1")
	if pid, err := c.containerdPID(t); err != nil || pid != ctrd {
		t.Logf("containerd after the restart: pid %d (%v), was %d", pid, err, ctrd)
	}

	// 2. SIGKILL of berth (not containerd).
	c.kill9(t)
	answering(t, before, "berth killed")
	c.start(t, false) // the last run stops its pods: the leak checks apply
	c.checkAdopted(t, ns, before, "marker-2")

	// 3. containerd killed: the agent restarts it.
	ctrd, err = c.containerdPID(t)
	if err != nil {
		t.Fatal(err)
	}
	leaseBefore := c.jsonpath(t, "{.spec.renewTime}", "lease", "-n", "kube-node-lease", c.node)
	stopProbing := make(chan struct{})
	var probeErrs []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the pods answer all along
		defer wg.Done()
		for {
			for name, s := range before {
				if body, err := httpGet("http://" + s.ip + ":8080/"); err != nil || !strings.Contains(body, name) {
					probeErrs = append(probeErrs, fmt.Sprintf("%s %s: %q %v", time.Now().Format(time.TimeOnly), name, body, err))
				}
			}
			select {
			case <-stopProbing:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	if err := syscall.Kill(ctrd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, podTimeout, "a new containerd", func() (bool, string) {
		pid, err := c.containerdPID(t)
		return err == nil && pid != ctrd, fmt.Sprintf("pid %d (%v), killed %d", pid, err, ctrd)
	})
	waitFor(t, podTimeout, "the node lease renewed after containerd's restart", func() (bool, string) {
		now := c.jsonpath(t, "{.spec.renewTime}", "lease", "-n", "kube-node-lease", c.node)
		return now != leaseBefore, "renewTime " + now
	})
	if r := c.nodeReady(t); r != "True" {
		t.Errorf("node Ready is %q after containerd's restart, want True", r)
	}
	c.checkAdopted(t, ns, before, "marker-3")
	c.kubectl(t, "exec", "-n", ns, "marker-2", "--", "true")
	close(stopProbing)
	wg.Wait()
	if len(probeErrs) > 0 {
		t.Errorf("pods stopped answering while containerd restarted:\n%s", strings.Join(probeErrs, "\n"))
	}
	if r := c.nodeReady(t); r != "True" {
		t.Errorf("node Ready is %q at the end, want True", r)
	}
}

const shutdownPods = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {key: value}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {key: value}
---
apiVersion: v1
kind: Pod
metadata: {name: volumes}
spec:
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  initContainers:
  - name: init
    image: busybox
    args: [sh, -c, 'echo hi > /scratch/hi']
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    resources:
      limits: {cpu: 200m, memory: 32Mi}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: mem, mountPath: /mem}
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap '' TERM; while true; do sleep 1; done"]
`

// TestCleanShutdown: with pods running (volumes of every kind, limits, a
// process ignoring SIGTERM), SIGINT makes berth exit 0 within 30s and leaves
// no process, mount, cgroup or NAT rule behind. Started again, the cluster
// resumes and runs its pods anew.
func TestCleanShutdown(t *testing.T) {
	t.Parallel()
	c := startUp(t)
	ns := c.namespace(t, "shutdown")
	c.apply(t, ns, shutdownPods)
	c.apply(t, ns, demoDeployment)
	c.waitDemo(t, ns, "app=demo", "v1", 3)
	var pids []int
	for _, name := range []string{"volumes", "stubborn"} {
		p := c.waitRunningReady(t, ns, name)
		for _, s := range p.Status.ContainerStatuses {
			ps, err := c.containerPIDs(s.ContainerID)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, ps...)
		}
	}
	// The leak checks must see a running cluster, or they prove nothing.
	seen := map[string]int{}
	for _, f := range c.owned().Find() {
		kind, _, _ := strings.Cut(f, " ")
		seen[strings.TrimSuffix(kind, ":")]++
	}
	if seen["mount"] == 0 || seen["cgroup"] == 0 || seen["process"] == 0 {
		t.Fatalf("the leak checks see nothing of a running cluster (%v): they would prove nothing", seen)
	}

	took := c.stop(t, 30*time.Second)
	if took < 4*time.Second {
		t.Errorf("berth stopped in %v, before stubborn's 5s grace period could end: were its pods stopped gracefully?", took)
	}
	if leaks := c.leaks(10 * time.Second); len(leaks) > 0 {
		t.Errorf("berth left these behind after SIGINT:\n%s", strings.Join(leaks, "\n"))
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("container process %d (%q) still runs after berth stopped", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}

	c.start(t, false)
	c.waitDemo(t, ns, "app=demo", "v1", 3)
	c.waitRunningReady(t, ns, "volumes")
	if got := c.kubectl(t, "exec", "-n", ns, "volumes", "--", "cat", "/cfg/key", "/sec/key"); got != "valuevalue" {
		t.Errorf("volumes after the restart: /cfg/key and /sec/key hold %q", got)
	}
}
