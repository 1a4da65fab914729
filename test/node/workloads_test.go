package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestWorkloads runs ordinary workloads on one node: a Deployment rolled
// out and back, resource limits, init containers, ConfigMaps and Secrets.
func TestWorkloads(t *testing.T) {
	t.Parallel()
	c := startUp(t)
	subtests(t, map[string]func(*testing.T){
		"DemoDeployment":   c.testDemoDeployment,
		"ResourceLimits":   c.testResourceLimits,
		"InitContainers":   c.testInitContainers,
		"ConfigAndSecrets": c.testConfigAndSecrets,
	})
}

const demoDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 3
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
      - name: demo
        image: berth/demo:v1
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
        resources:
          requests: {cpu: 10m, memory: 16Mi}
`

// waitDemo waits until the deployment's pods are exactly want, each
// Running and Ready on the node, and each answers GET / with its version
// and its own name; it returns the pods.
func (c *cluster) waitDemo(t *testing.T, ns, selector, version string, want int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, 180*time.Second, fmt.Sprintf("%d pods %s Running, Ready and answering %s", want, selector, version), func() (bool, string) {
		var err error
		pods, err = c.pods(ns, selector)
		if err != nil {
			return false, err.Error()
		}
		var b strings.Builder
		ok := len(pods) == want
		fmt.Fprintf(&b, "%d pods, want %d\n", len(pods), want)
		for i := range pods {
			p := &pods[i]
			fmt.Fprintln(&b, podSummary(p))
			if p.Status.Phase != corev1.PodRunning || !podReady(p) || p.Spec.NodeName != c.node || p.Status.PodIP == "" {
				ok = false
				continue
			}
			body, err := httpGet("http://" + p.Status.PodIP + ":8080/")
			if wantBody := fmt.Sprintf("berth demo %s, pod %s\n", version, p.Name); err != nil || body != wantBody {
				fmt.Fprintf(&b, "  GET %s: %q (%v), want %q\n", p.Status.PodIP, body, err, wantBody)
				ok = false
			}
		}
		return ok, b.String()
	})
	return pods
}

// testDemoDeployment: three replicas of berth/demo:v1, Running and Ready,
// each answering HTTP with its own name; set image to v2, rollout status,
// all answer v2; rollout undo, all answer v1 again.
func (c *cluster) testDemoDeployment(t *testing.T) {
	ns := c.namespace(t, "demo")
	c.apply(t, ns, demoDeployment)
	c.kubectl(t, "rollout", "status", "-n", ns, "deployment/demo", "--timeout=180s")
	pods := c.waitDemo(t, ns, "app=demo", "v1", 3)

	// The same facts as kubectl shows them with jsonpath.
	phases := c.jsonpath(t, `{range .items[*]}{.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].ready}{"\n"}{end}`, "pods", "-n", ns, "-l", "app=demo")
	if want := strings.Repeat("Running True true\n", 3); phases != want {
		t.Errorf("phase, Ready condition and container ready of the pods:\n%s\nwant:\n%s", phases, want)
	}
	ips := map[string]bool{}
	for _, p := range pods {
		if ips[p.Status.PodIP] {
			t.Errorf("pod IP %s given twice", p.Status.PodIP)
		}
		ips[p.Status.PodIP] = true
		if !strings.HasPrefix(p.Status.PodIP, c.cidrPrefix) {
			t.Errorf("pod %s has IP %s, outside the node's pod CIDR %s", p.Name, p.Status.PodIP, c.podCIDR)
		}
	}

	c.kubectl(t, "set", "image", "-n", ns, "deployment/demo", "demo=berth/demo:v2")
	c.kubectl(t, "rollout", "status", "-n", ns, "deployment/demo", "--timeout=180s")
	v2 := c.waitDemo(t, ns, "app=demo", "v2", 3)
	for _, p := range v2 {
		if img := p.Spec.Containers[0].Image; img != "berth/demo:v2" {
			t.Errorf("pod %s runs %s after set image, want berth/demo:v2", p.Name, img)
		}
		if s := containerStatus(&p, "demo"); s == nil || s.ImageID == "" {
			t.Errorf("pod %s: container status has no imageID: %s", p.Name, podSummary(&p))
		}
	}

	c.kubectl(t, "rollout", "undo", "-n", ns, "deployment/demo")
	c.kubectl(t, "rollout", "status", "-n", ns, "deployment/demo", "--timeout=180s")
	c.waitDemo(t, ns, "app=demo", "v1", 3)
	if h := c.kubectl(t, "rollout", "history", "-n", ns, "deployment/demo"); !strings.Contains(h, "2 ") || !strings.Contains(h, "3 ") {
		t.Errorf("rollout history shows no revisions 2 and 3:\n%s", h)
	}
}

const limitedPod = `
apiVersion: v1
kind: Pod
metadata:
  name: limited
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    resources:
      limits: {cpu: 500m, memory: 64Mi}
`

// testResourceLimits: limits cpu 500m / memory 64Mi reach the container's
// cgroup on the host (memory.limit_in_bytes 64Mi, cfs quota 50ms of a
// 100ms period, 512 shares), and the pod's cgroup is bounded too.
func (c *cluster) testResourceLimits(t *testing.T) {
	ns := c.namespace(t, "limits")
	c.apply(t, ns, limitedPod)
	p := c.waitRunningReady(t, ns, "limited")
	if p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed (limits only: requests default to them)", p.Status.QOSClass)
	}

	// The container's own view of its cgroups.
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(c.kubectl(t, "exec", "-n", ns, "limited", "--", "cat", "/proc/1/cgroup")), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, ctl := range strings.Split(f[1], ",") {
			paths[ctl] = f[2]
		}
	}
	memPath, cpuPath := paths["memory"], paths["cpu"]
	prefix := "/berth/" + c.node + "/"
	if !strings.HasPrefix(memPath, prefix) || !strings.HasPrefix(cpuPath, prefix) {
		t.Fatalf("the container's cgroups (memory %q, cpu %q) are not under %s", memPath, cpuPath, prefix)
	}
	id := strings.TrimPrefix(containerStatus(p, "main").ContainerID, "containerd://")
	if filepath.Base(memPath) != id {
		t.Errorf("memory cgroup %s is not named after the container ID %s", memPath, id)
	}

	check := func(path string, want int64) {
		t.Helper()
		got, err := readInt(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
		} else if got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
	check(filepath.Join("/sys/fs/cgroup/memory", memPath, "memory.limit_in_bytes"), 64<<20)
	check(filepath.Join("/sys/fs/cgroup/cpu", cpuPath, "cpu.cfs_quota_us"), 50000)
	check(filepath.Join("/sys/fs/cgroup/cpu", cpuPath, "cpu.cfs_period_us"), 100000)
	check(filepath.Join("/sys/fs/cgroup/cpu", cpuPath, "cpu.shares"), 512)

	// The kubelet bounds the pod's cgroup by the sum of its containers'
	// limits when every container has them.
	check(filepath.Join("/sys/fs/cgroup/memory", filepath.Dir(memPath), "memory.limit_in_bytes"), 64<<20)
	check(filepath.Join("/sys/fs/cgroup/cpu", filepath.Dir(cpuPath), "cpu.cfs_quota_us"), 50000)

	// And the container's processes are in it.
	procs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", memPath, "cgroup.procs"))
	if err != nil || len(strings.Fields(string(procs))) == 0 {
		t.Errorf("no processes in the container's memory cgroup (%v): %q", err, procs)
	}
}

const initPods = `
apiVersion: v1
kind: Pod
metadata:
  name: init
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: first
    image: busybox
    args: [sh, -c, 'echo first >> /work/log']
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: busybox
    args: [sh, -c, 'grep -qx first /work/log && echo second >> /work/log']
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'cat /work/log; exec sleep 3600']
    volumeMounts: [{name: work, mountPath: /work}]
---
apiVersion: v1
kind: Pod
metadata:
  name: init-fails
spec:
  restartPolicy: Never
  initContainers:
  - name: broken
    image: busybox
    args: [sh, -c, 'exit 3']
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
`

// testInitContainers: two init containers run in order to completion, each
// seeing what the one before wrote in an emptyDir, then the main container
// reads both; a failing init container (restartPolicy Never) fails the pod
// and the main container never starts.
func (c *cluster) testInitContainers(t *testing.T) {
	ns := c.namespace(t, "init")
	c.apply(t, ns, initPods)

	p := c.waitRunning(t, ns, "init")
	if len(p.Status.InitContainerStatuses) != 2 {
		t.Fatalf("want 2 init container statuses: %s", podSummary(p))
	}
	for _, name := range []string{"first", "second"} {
		s := containerStatus(p, name)
		if term := s.State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
			t.Errorf("init container %s: state %s, want terminated Completed with exit 0", name, stateString(s.State))
		}
		if s.RestartCount != 0 {
			t.Errorf("init container %s restarted %d times", name, s.RestartCount)
		}
	}
	first, second := containerStatus(p, "first").State.Terminated, containerStatus(p, "second").State.Terminated
	if first != nil && second != nil && second.StartedAt.Before(&first.FinishedAt) {
		t.Errorf("init container second started at %v, before first finished at %v", second.StartedAt, first.FinishedAt)
	}
	if podCondition(p, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Errorf("pod condition Initialized is %q, want True", podCondition(p, corev1.PodInitialized))
	}
	waitFor(t, 30*time.Second, "logs of main", func() (bool, string) {
		r := c.run(nil, "logs", "-n", ns, "init", "-c", "main")
		return r.code == 0 && r.stdout == "first\nsecond\n", r.String()
	})
	if got := c.kubectl(t, "get", "pod", "-n", ns, "init", "--no-headers"); !strings.Contains(got, " Running ") || !strings.Contains(got, "1/1") {
		t.Errorf("kubectl get pod init: %q, want 1/1 Running", got)
	}

	p = c.waitPod(t, ns, "init-fails", podTimeout, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if s := containerStatus(p, "broken"); s == nil || s.State.Terminated == nil || s.State.Terminated.ExitCode != 3 || s.State.Terminated.Reason != "Error" {
		t.Errorf("init container broken: want terminated Error with exit 3: %s", podSummary(p))
	}
	if s := containerStatus(p, "main"); s == nil || s.State.Running != nil || s.State.Terminated != nil || s.ContainerID != "" {
		t.Errorf("main container of init-fails started, or has no status: %s", podSummary(p))
	} else if s.State.Waiting == nil || s.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("main container of init-fails: state %s, want waiting PodInitializing", stateString(s.State))
	}
	if got := c.kubectl(t, "get", "pod", "-n", ns, "init-fails", "--no-headers"); !strings.Contains(got, "Init:Error") {
		t.Errorf("kubectl get pod init-fails: %q, want STATUS Init:Error", got)
	}
}

const configPod = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  user: admin
  password: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: config
    configMap:
      name: settings
  - name: picked
    configMap:
      name: settings
      items:
      - {key: color, path: nested/favourite-color}
  - name: secret
    secret:
      secretName: creds
      defaultMode: 0400
  containers:
  - name: main
    image: busybox
    args: [sleep, "3600"]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: settings, key: greeting}
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: creds, key: password}
    envFrom:
    - prefix: CFG_
      configMapRef: {name: settings}
    - prefix: SEC_
      secretRef: {name: creds}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: picked, mountPath: /etc/picked}
    - {name: secret, mountPath: /etc/secret, readOnly: true}
`

// testConfigAndSecrets: a ConfigMap and a Secret reach a pod as files
// (whole, and by items; mode as asked) and as environment variables
// (valueFrom, envFrom with prefixes); updating them changes the files of the
// running pod within about a minute, and not its environment.
func (c *cluster) testConfigAndSecrets(t *testing.T) {
	ns := c.namespace(t, "config")
	c.apply(t, ns, configPod)
	c.waitRunningReady(t, ns, "reader")

	exec := func(args ...string) string {
		t.Helper()
		return c.kubectl(t, append([]string{"exec", "-n", ns, "reader", "--"}, args...)...)
	}
	files := map[string]string{
		"/etc/config/greeting":               "hello",
		"/etc/config/color":                  "blue",
		"/etc/picked/nested/favourite-color": "blue",
		"/etc/secret/user":                   "admin",
		"/etc/secret/password":               "s3cret",
	}
	for path, want := range files {
		if got := exec("cat", path); got != want {
			t.Errorf("%s holds %q, want %q", path, got, want)
		}
	}
	if got := strings.TrimSpace(exec("stat", "-L", "-c", "%a", "/etc/secret/password")); got != "400" {
		t.Errorf("mode of /etc/secret/password: %s, want 400 (defaultMode)", got)
	}
	if got := exec("ls", "/etc/picked"); strings.TrimSpace(got) != "nested" {
		t.Errorf("ls /etc/picked: %q, want only nested (items pick keys)", got)
	}
	env := exec("env")
	for _, kv := range []string{"GREETING=hello", "PASSWORD=s3cret", "CFG_greeting=hello", "CFG_color=blue", "SEC_user=admin", "SEC_password=s3cret"} {
		if !containsLine(env, kv) {
			t.Errorf("environment lacks %s:\n%s", kv, env)
		}
	}

	c.kubectl(t, "patch", "configmap", "-n", ns, "settings", "--type=merge", "-p", `{"data":{"greeting":"bonjour"}}`)
	c.kubectl(t, "patch", "secret", "-n", ns, "creds", "--type=merge", "-p", `{"stringData":{"password":"n3w-pass"}}`)
	waitFor(t, 150*time.Second, "updated ConfigMap and Secret in the pod's files", func() (bool, string) {
		g := c.run(nil, "exec", "-n", ns, "reader", "--", "cat", "/etc/config/greeting")
		p := c.run(nil, "exec", "-n", ns, "reader", "--", "cat", "/etc/secret/password")
		return g.stdout == "bonjour" && p.stdout == "n3w-pass", g.String() + "\n" + p.String()
	})
	if got := exec("cat", "/etc/config/color"); got != "blue" {
		t.Errorf("/etc/config/color holds %q after the update, want blue", got)
	}
	env = exec("env")
	if !containsLine(env, "GREETING=hello") || !containsLine(env, "PASSWORD=s3cret") {
		t.Errorf("the environment of a running container changed with its ConfigMap/Secret:\n%s", env)
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
