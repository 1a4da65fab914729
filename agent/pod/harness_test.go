package pod_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/pod"
	"berth/agent/probe"
	"berth/internal/testnode"
	"berth/internal/testserver"
)

const kubectl = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"

// cluster is a node with a real container runtime, an API server, and a
// pod manager for the node.
type cluster struct {
	t testing.TB // the test or subtest using the cluster
	*env
}

// with returns the cluster for a subtest, whose failures are its own.
func (c *cluster) with(t testing.TB) *cluster { return &cluster{t: t, env: c.env} }

// env is what a cluster's users share.
type env struct {
	node     *testnode.Node
	srv      *testserver.Server
	client   kubernetes.Interface
	nodeName string
	ns       string
	volumes  *fakeVolumes
	probes   *fakeProbes
	cfg      pod.Config

	mu     sync.Mutex
	mgr    *pod.Manager
	cancel context.CancelFunc
	done   chan error
}

// newCluster starts a runtime, an API server, registers the node (2 CPUs,
// 4Gi) and runs a pod manager for it.
func newCluster(t testing.TB, adjust ...func(*pod.Config)) *cluster {
	t.Helper()
	node := testnode.Start(t)
	srv := testserver.Start(t, testserver.Bare)
	client := kubernetes.NewForConfigOrDie(srv.ProtobufConfig())
	c := &cluster{t: t, env: &env{node: node, srv: srv, client: client, nodeName: "node-" + filepath.Base(node.Dir)[3:], ns: "test"}}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: c.nodeName, Labels: map[string]string{"kubernetes.io/hostname": c.nodeName}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}},
		},
	}
	created, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = n.Status
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.volumes = &fakeVolumes{dir: filepath.Join(node.Dir, "volumes"), client: client}
	c.probes = newFakeProbes()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&eventSink{client: client})
	t.Cleanup(broadcaster.Shutdown)
	logOut := io.Discard
	if os.Getenv("BERTH_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	c.cfg = pod.Config{
		NodeName:     c.nodeName,
		Client:       client,
		Runtime:      node.Runtime,
		Images:       node.Images,
		Volumes:      c.volumes,
		Probes:       c.probes,
		Recorder:     broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: c.nodeName}),
		LogDir:       filepath.Join(node.Dir, "logs"),
		PodDir:       filepath.Join(node.Dir, "pods"),
		CgroupParent: "/berth-test/" + c.nodeName,
		Logger:       slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, a := range adjust {
		a(&c.cfg)
	}
	c.start()
	t.Cleanup(func() {
		c.stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		mgr, err := pod.New(c.cfg)
		if err == nil {
			err = mgr.StopAll(ctx)
		}
		if err != nil {
			t.Errorf("StopAll: %v", err)
		}
	})
	return c
}

// start runs a new pod manager.
func (c *cluster) start() {
	c.t.Helper()
	mgr, err := pod.New(c.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	c.mu.Lock()
	c.mgr, c.cancel, c.done = mgr, cancel, done
	c.mu.Unlock()
}

// stop ends the pod manager, leaving its pods running.
func (c *cluster) stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel = nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		c.t.Error("the pod manager did not stop within 30s")
	}
}

// create makes a pod bound to the node.
func (c *cluster) create(p *corev1.Pod) *corev1.Pod {
	c.t.Helper()
	p.Namespace = c.ns
	p.Spec.NodeName = c.nodeName
	out, err := c.client.CoreV1().Pods(c.ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

func (c *cluster) get(name string) *corev1.Pod {
	c.t.Helper()
	p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitFor polls the pod until cond holds.
func (c *cluster) waitFor(name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var p *corev1.Pod
	for {
		var err error
		p, err = c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pod %s: not %s within %v; status: %s", name, what, timeout, statusString(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until the pod is deleted from the API.
func (c *cluster) waitGone(name string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pod %s still exists after %v (%v)", name, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusString(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s reason=%s message=%q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d ready=%v state=%s last=%s]", cs.Name, cs.RestartCount, cs.Ready, stateString(cs.State), stateString(cs.LastTerminationState))
	}
	return b.String()
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s %d %q)", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
	case s.Waiting != nil:
		return fmt.Sprintf("waiting(%s %q)", s.Waiting.Reason, s.Waiting.Message)
	}
	return "none"
}

func running(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0 && allReady(p)
}

func allReady(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			return false
		}
	}
	return true
}

// kubectlGet returns kubectl's row for the pod: READY, STATUS, RESTARTS.
func (c *cluster) kubectlGet(name string) (ready, status, restarts string) {
	c.t.Helper()
	out, err := exec.Command(kubectl, "--kubeconfig", c.srv.Kubeconfig, "get", "pod", "-n", c.ns, name, "--no-headers").CombinedOutput()
	if err != nil {
		c.t.Fatalf("kubectl get pod: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 4 {
		c.t.Fatalf("kubectl get pod: %q", out)
	}
	restarts = f[3]
	if len(f) > 5 { // "1 (5s ago)"
		restarts = strings.Join(f[3:len(f)-1], " ")
	}
	return f[1], f[2], restarts
}

// waitKubectl waits until kubectl shows the pod with the STATUS.
func (c *cluster) waitKubectl(name, status string, timeout time.Duration) (ready, restarts string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, got, restarts := c.kubectlGet(name)
		if got == status {
			return ready, restarts
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("kubectl shows pod %s %s, want %s", name, got, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// events returns the messages of the pod's events with the reason.
func (c *cluster) events(p *corev1.Pod, reason string) []string {
	c.t.Helper()
	list, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == p.UID && e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}

// waitEvent waits for an event of the pod with reason and a message
// containing substr.
func (c *cluster) waitEvent(p *corev1.Pod, reason, substr string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range c.events(p, reason) {
			if strings.Contains(m, substr) {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s event with %q for pod %s; have %q", reason, substr, p.Name, c.events(p, reason))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containers lists the runtime's containers of the pod.
func (c *cluster) containers(uid types.UID) []*runtimeapi.Container {
	c.t.Helper()
	resp, err := c.node.Runtime.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{pod.LabelPodUID: string(uid)}},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.Containers
}

// sandboxes lists the runtime's sandboxes of the pod.
func (c *cluster) sandboxes(uid types.UID) []*runtimeapi.PodSandbox {
	c.t.Helper()
	resp, err := c.node.Runtime.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{
		Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{pod.LabelPodUID: string(uid)}},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.Items
}

// logs returns the log of a container instance (CRI format stripped).
func (c *cluster) logs(p *corev1.Pod, container string, restart int) string {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.cfg.LogDir, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), container, fmt.Sprintf("%d.log", restart)))
	if err != nil {
		c.t.Fatalf("logs of %s/%s: %v", p.Name, container, err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) == 4 {
			b.WriteString(f[3] + "\n")
		}
	}
	return b.String()
}

// waitLog waits until the first instance of a container has logged want.
func (c *cluster) waitLog(p *corev1.Pod, container, want string, timeout time.Duration) {
	c.t.Helper()
	file := filepath.Join(c.cfg.LogDir, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), container, "0.log")
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(file)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s/%s did not log %q in %v; log: %q", p.Name, container, want, timeout, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// busybox is a pod of one busybox container running script under the
// image's init (which passes SIGTERM on).
func busybox(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Args: []string{"sh", "-c", script}}},
		},
	}
}

// eventSink writes events with the typed client.
type eventSink struct{ client kubernetes.Interface }

func (s *eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Create(context.Background(), e, metav1.CreateOptions{})
}

func (s *eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Update(context.Background(), e, metav1.UpdateOptions{})
}

func (s *eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Patch(context.Background(), e.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
}

// fakeVolumes gives every volume a directory of its own on the host;
// configMap and secret volumes get their data as files.
type fakeVolumes struct {
	dir    string
	client kubernetes.Interface
	mu     sync.Mutex
	torn   map[types.UID]int
}

func (v *fakeVolumes) Setup(ctx context.Context, p *corev1.Pod) (map[string]string, error) {
	out := map[string]string{}
	for _, vol := range p.Spec.Volumes {
		dir := filepath.Join(v.dir, string(p.UID), vol.Name)
		if vol.HostPath != nil {
			dir = vol.HostPath.Path
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, err
		}
		if cm := vol.ConfigMap; cm != nil {
			obj, err := v.client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			for k, val := range obj.Data {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(val), 0o644); err != nil {
					return nil, err
				}
			}
		}
		out[vol.Name] = dir
	}
	return out, nil
}

func (v *fakeVolumes) Teardown(_ context.Context, uid types.UID) error {
	v.mu.Lock()
	if v.torn == nil {
		v.torn = map[types.UID]int{}
	}
	v.torn[uid]++
	v.mu.Unlock()
	return os.RemoveAll(filepath.Join(v.dir, string(uid)))
}

func (v *fakeVolumes) tornDown(uid types.UID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.torn[uid] > 0
}

// fakeProbes reports containers started and ready unless told otherwise,
// and delivers the results a test sends.
type fakeProbes struct {
	mu       sync.Mutex
	results  chan probe.Result
	notReady map[string]bool // uid/container
	starts   map[string]int
}

func newFakeProbes() *fakeProbes {
	return &fakeProbes{results: make(chan probe.Result, 16), notReady: map[string]bool{}, starts: map[string]int{}}
}

func (f *fakeProbes) Start(p *corev1.Pod, podIP, container, containerID string, startedAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts[string(p.UID)+"/"+container]++
}

func (f *fakeProbes) Stop(types.UID, string)             {}
func (f *fakeProbes) StopPod(types.UID)                  {}
func (f *fakeProbes) Results() <-chan probe.Result       { return f.results }
func (f *fakeProbes) Started(types.UID, string) bool     { return true }
func (f *fakeProbes) Ready(uid types.UID, c string) bool { return !f.isNotReady(uid, c) }

func (f *fakeProbes) isNotReady(uid types.UID, c string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady[string(uid)+"/"+c]
}

func (f *fakeProbes) setReady(uid types.UID, c string, ready bool) {
	f.mu.Lock()
	f.notReady[string(uid)+"/"+c] = !ready
	f.mu.Unlock()
	f.results <- probe.Result{PodUID: uid, Container: c, Kind: probe.Readiness, Success: ready}
}

func (f *fakeProbes) startCount(uid types.UID, c string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts[string(uid)+"/"+c]
}
