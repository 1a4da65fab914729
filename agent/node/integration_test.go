package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/internal/testnode"
	"berth/internal/testserver"
	"berth/server"
)

// startNode runs a Node with cfg (short intervals unless set) until the
// test ends, and waits for its registration. stop stops it earlier.
func startNode(t *testing.T, cfg Config) (n *Node, stop func()) {
	t.Helper()
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 200 * time.Millisecond
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.LeaseInterval = 2*time.Second, 300*time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.Addresses == nil {
		cfg.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}, {Type: corev1.NodeHostName, Address: cfg.Name}}
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	}
	t.Cleanup(stop)
	select {
	case <-n.Registered():
	case err := <-done:
		t.Fatalf("Run returned before registration: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not registered within 20s")
	}
	return n, stop
}

// testLogger discards unless BERTH_TEST_LOG is set.
func testLogger() *slog.Logger {
	out := io.Discard
	if os.Getenv("BERTH_TEST_LOG") != "" {
		out = os.Stderr
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer runs an API server without controllers. It gets a logger
// so that parallel tests do not each point klog's process-wide logger at
// theirs.
func startServer(t *testing.T) *testserver.Server {
	return testserver.Start(t, testserver.Bare, func(c *server.Config) { c.Logger = testLogger() })
}

func readyConditionOf(n *corev1.Node) corev1.NodeCondition { return readyCondition(&n.Status) }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getNode(t *testing.T, c kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nodeEvents counts the kubelet's events about node name by reason
// (events of the same reason and message are one Event with a count).
func nodeEvents(t *testing.T, c kubernetes.Interface, name string) map[string]int {
	t.Helper()
	list, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == name && e.InvolvedObject.UID == types.UID(name) &&
			e.Source.Component == "kubelet" && e.Source.Host == name {
			out[e.Reason] += int(max(e.Count, 1))
		}
	}
	return out
}

func hasAll(have map[string]int, want ...string) bool {
	for _, w := range want {
		if have[w] == 0 {
			return false
		}
	}
	return true
}

// A node on a real containerd registers Ready with the host's capacity,
// the runtime's version and images, keeps its Lease renewed, and kubectl
// shows it.
func TestRegistersWithRealRuntime(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	rt := testnode.Start(t)
	ctx := context.Background()
	if _, err := rt.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox"}}); err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	rootDir := t.TempDir()
	startNode(t, Config{
		Name: "real-1", Client: client, Runtime: rt.Runtime, Images: rt.Images, RootDir: rootDir,
		Version: "v1.33.0+berth-test", DaemonPort: 10250,
		Labels: map[string]string{"team": "a"}, Taints: []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
	})
	var node *corev1.Node
	waitFor(t, 20*time.Second, "node Ready with busybox in its images", func() (bool, string) {
		node = getNode(t, s.Client, "real-1")
		ready := readyConditionOf(node)
		hasBusybox := false
		for _, img := range node.Status.Images {
			for _, name := range img.Names {
				hasBusybox = hasBusybox || name == "docker.io/library/busybox:latest"
			}
		}
		return ready.Status == corev1.ConditionTrue && hasBusybox, fmt.Sprintf("ready %+v images %v", ready, node.Status.Images)
	})

	// Capacity measured on the host, allocatable less the eviction
	// thresholds.
	h := newHost("/sys/fs/cgroup")
	m, err := h.machine()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := statfs(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	c, a := node.Status.Capacity, node.Status.Allocatable
	if q := c[corev1.ResourceCPU]; q.Value() != int64(m.cpus) {
		t.Errorf("cpu capacity %s, want %d", q.String(), m.cpus)
	}
	if q := c[corev1.ResourceMemory]; q.Value() != m.memory {
		t.Errorf("memory capacity %s, want %d", q.String(), m.memory)
	}
	if q := c[corev1.ResourceEphemeralStorage]; q.Value() != fs.capacity {
		t.Errorf("ephemeral-storage capacity %s, want %d", q.String(), fs.capacity)
	}
	if q := c[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods capacity %s", q.String())
	}
	if q, ok := c["hugepages-2Mi"]; !ok || q.Value() != m.hugepages["hugepages-2Mi"] {
		t.Errorf("hugepages-2Mi capacity %s (present %v)", q.String(), ok)
	}
	var hp int64
	for _, v := range m.hugepages {
		hp += v
	}
	if q := a[corev1.ResourceMemory]; q.Value() != m.memory-100<<20-hp {
		t.Errorf("memory allocatable %s, want capacity - 100Mi - huge pages", q.String())
	}
	if q := a[corev1.ResourceEphemeralStorage]; q.Value() != fs.capacity-int64(float64(fs.capacity)*0.1) {
		t.Errorf("ephemeral-storage allocatable %s, want 90%% of capacity", q.String())
	}

	info := node.Status.NodeInfo
	if !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://1.6.20") || info.KubeletVersion != "v1.33.0+berth-test" ||
		info.KernelVersion != m.kernelVersion || info.OSImage != m.osImage || info.BootID != m.bootID || info.MachineID != m.machineID ||
		info.OperatingSystem != "linux" || info.Architecture == "" || info.KubeProxyVersion != "" {
		t.Errorf("nodeInfo %+v", info)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || len(node.Status.Addresses) != 2 {
		t.Errorf("daemonEndpoints %+v addresses %v", node.Status.DaemonEndpoints, node.Status.Addresses)
	}
	for k, v := range map[string]string{"kubernetes.io/hostname": "real-1", "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux",
		"kubernetes.io/arch": info.Architecture, "beta.kubernetes.io/arch": info.Architecture, "team": "a"} {
		if node.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, node.Labels[k], v)
		}
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" || node.Annotations[annotationCMAD] != "true" {
		t.Errorf("taints %v annotations %v", node.Spec.Taints, node.Annotations)
	}
	var condTypes []corev1.NodeConditionType
	for _, c := range node.Status.Conditions {
		condTypes = append(condTypes, c.Type)
		if c.Type != corev1.NodeReady && c.Status != corev1.ConditionFalse {
			t.Errorf("condition %s is %s (%s)", c.Type, c.Status, c.Message)
		}
	}
	if want := []corev1.NodeConditionType{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}; !slices.Equal(condTypes, want) {
		t.Errorf("conditions %v, want %v", condTypes, want)
	}

	// The Lease is owned by the Node and renewed.
	leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var lease *coordinationv1.Lease
	waitFor(t, 5*time.Second, "lease created", func() (bool, string) {
		var err error
		lease, err = leases.Get(ctx, "real-1", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "real-1" || lease.Spec.LeaseDurationSeconds == nil || *lease.Spec.LeaseDurationSeconds != 2 {
		t.Errorf("lease spec %+v", lease.Spec)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID || lease.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease owners %+v, want the Node %s", lease.OwnerReferences, node.UID)
	}
	first := lease.Spec.RenewTime.Time
	waitFor(t, 5*time.Second, "lease renewed", func() (bool, string) {
		l, err := leases.Get(ctx, "real-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.Time.After(first), l.Spec.RenewTime.String()
	})

	waitFor(t, 5*time.Second, "events", func() (bool, string) {
		ev := nodeEvents(t, s.Client, "real-1")
		return hasAll(ev, "Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"), fmt.Sprint(ev)
	})

	t.Run("kubectl get nodes -o wide", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed")
		}
		out, err := exec.Command(kubectl, "--kubeconfig", s.Kubeconfig, "get", "nodes", "-o", "wide").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl output:\n%s", out)
		}
		row := columns(lines[0], lines[1])
		want := map[string]string{
			"NAME": "real-1", "STATUS": "Ready", "ROLES": "<none>", "VERSION": "v1.33.0+berth-test",
			"INTERNAL-IP": "192.0.2.10", "EXTERNAL-IP": "<none>", "OS-IMAGE": m.osImage,
			"KERNEL-VERSION": m.kernelVersion, "CONTAINER-RUNTIME": info.ContainerRuntimeVersion,
		}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("column %s = %q, want %q\n%s", k, row[k], v, out)
			}
		}
	})
}

// columns splits a kubectl table row by the header's column offsets.
func columns(header, row string) map[string]string {
	out := map[string]string{}
	var starts []int
	var names []string
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(header) && header[j] != ' ' {
			j++
		}
		starts, names = append(starts, i), append(names, header[i:j])
		i = j
	}
	for k, s := range starts {
		end := len(row)
		if k+1 < len(starts) {
			end = min(starts[k+1], len(row))
		}
		if s < len(row) {
			out[names[k]] = strings.TrimSpace(row[s:end])
		}
	}
	return out
}

// Until the runtime's network is ready the node is NotReady with the
// kubelet's message; then it turns Ready.
func TestNotReadyUntilNetworkReady(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newFakeRuntime()
	f.network = &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Reason: "NetworkPluginNotReady", Message: "Network plugin returns error: cni plugin not initialized"}
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	startNode(t, Config{Name: "net-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir()})
	node := getNode(t, s.Client, "net-1")
	ready := readyConditionOf(node)
	want := "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
	if ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" || ready.Message != want {
		t.Fatalf("Ready %s %s %q, want False KubeletNotReady %q", ready.Status, ready.Reason, ready.Message, want)
	}
	f.set(func(f *fakeRuntime) {
		f.network = &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	})
	waitFor(t, 5*time.Second, "Ready", func() (bool, string) {
		c := readyConditionOf(getNode(t, s.Client, "net-1"))
		return c.Status == corev1.ConditionTrue && c.Message == messageKubeletReady, fmt.Sprintf("%+v", c)
	})
	waitFor(t, 5*time.Second, "NodeReady event", func() (bool, string) {
		ev := nodeEvents(t, s.Client, "net-1")
		return hasAll(ev, "NodeReady"), fmt.Sprint(ev)
	})
}

// A second agent run with the same name takes over the Node: default
// labels put back, the Node's own labels and taints kept, the same UID,
// and its status posted again.
func TestSecondRunReconciles(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newFakeRuntime()
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	ctx := context.Background()
	_, stopFirst := startNode(t, Config{Name: "again-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir(),
		Labels: map[string]string{"team": "a"}, Taints: []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}}})
	waitFor(t, 5*time.Second, "Ready", func() (bool, string) {
		c := readyConditionOf(getNode(t, s.Client, "again-1"))
		return c.Status == corev1.ConditionTrue, fmt.Sprintf("%+v", c)
	})
	// Events still in the recorder when Run ends are dropped: let them
	// out first.
	waitFor(t, 5*time.Second, "events of the first run", func() (bool, string) {
		ev := nodeEvents(t, s.Client, "again-1")
		return hasAll(ev, "Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"), fmt.Sprint(ev)
	})
	stopFirst()

	// Meanwhile: a label changed and one removed by hand, a taint added,
	// and the node controller marked the node Unknown.
	node := getNode(t, s.Client, "again-1")
	uid := node.UID
	node.Labels["kubernetes.io/hostname"] = "wrong"
	delete(node.Labels, "beta.kubernetes.io/os")
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute})
	node, err := s.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range node.Status.Conditions {
		node.Status.Conditions[i].Status, node.Status.Conditions[i].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	if _, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	startNode(t, Config{Name: "again-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir(),
		Labels: map[string]string{"team": "b"}, Taints: []corev1.Taint{{Key: "dedicated", Value: "b", Effect: corev1.TaintEffectNoSchedule}}})
	waitFor(t, 5*time.Second, "Ready again", func() (bool, string) {
		c := readyConditionOf(getNode(t, s.Client, "again-1"))
		return c.Status == corev1.ConditionTrue, fmt.Sprintf("%+v", c)
	})
	node = getNode(t, s.Client, "again-1")
	if node.UID != uid {
		t.Errorf("UID %s, want the first one %s (the node was not recreated)", node.UID, uid)
	}
	if node.Labels["kubernetes.io/hostname"] != "again-1" || node.Labels["beta.kubernetes.io/os"] != "linux" || node.Labels["team"] != "a" {
		t.Errorf("labels %v, want default labels put back and team=a kept", node.Labels)
	}
	var keys []string
	for _, tt := range node.Spec.Taints {
		keys = append(keys, tt.Key+"="+tt.Value)
	}
	if !slices.Equal(keys, []string{"dedicated=a", "maintenance="}) {
		t.Errorf("taints %v, want the existing ones only", keys)
	}
	for _, c := range node.Status.Conditions {
		if c.Status == corev1.ConditionUnknown {
			t.Errorf("condition %s still Unknown", c.Type)
		}
	}
	waitFor(t, 5*time.Second, "events of the second run", func() (bool, string) {
		ev := nodeEvents(t, s.Client, "again-1")
		for _, r := range []string{"Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"} {
			if ev[r] != 2 {
				return false, fmt.Sprint(ev)
			}
		}
		return true, ""
	})
}

// A node whose memory is under its eviction threshold reports
// MemoryPressure, and its allocatable memory is what is left above the
// threshold.
func TestMemoryPressure(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newFakeRuntime()
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	startNode(t, Config{Name: "mem-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir(),
		EvictionHard: map[string]string{"memory.available": "100%"}})
	node := getNode(t, s.Client, "mem-1")
	var mem corev1.NodeCondition
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeMemoryPressure {
			mem = c
		}
	}
	if mem.Status != corev1.ConditionTrue || mem.Reason != "KubeletHasInsufficientMemory" || mem.Message != "kubelet has insufficient memory available" {
		t.Errorf("MemoryPressure %+v", mem)
	}
	if q := node.Status.Allocatable[corev1.ResourceMemory]; !q.IsZero() {
		t.Errorf("allocatable memory %s, want 0", q.String())
	}
	if c := readyConditionOf(node); c.Status != corev1.ConditionTrue {
		t.Errorf("Ready %+v: memory pressure does not make the node NotReady", c)
	}
	waitFor(t, 5*time.Second, "NodeHasInsufficientMemory event", func() (bool, string) {
		ev := nodeEvents(t, s.Client, "mem-1")
		return hasAll(ev, "NodeHasInsufficientMemory") && ev["NodeHasSufficientMemory"] == 0, fmt.Sprint(ev)
	})
}

// An unchanged status is not written again before the report interval;
// then it is, with new heartbeat times. A change (a new image) is written
// at once.
func TestStatusReportInterval(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newFakeRuntime()
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	startNode(t, Config{Name: "quiet-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir(),
		StatusInterval: 100 * time.Millisecond, StatusReportInterval: 2 * time.Second})
	first := getNode(t, s.Client, "quiet-1")
	heartbeat := readyConditionOf(first).LastHeartbeatTime

	// Ten status periods: no write.
	w, err := s.Client.CoreV1().Nodes().Watch(context.Background(), metav1.ListOptions{
		FieldSelector: "metadata.name=quiet-1", ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(time.Second)
quiet:
	for {
		select {
		case ev := <-w.ResultChan():
			t.Fatalf("node written within a second of registration with nothing changed: %s", ev.Type)
		case <-timeout:
			break quiet
		}
	}

	// A new image is posted at once (and the watch sees it).
	f.set(func(f *fakeRuntime) {
		f.images = []*runtimeapi.Image{{Id: "sha256:aa", RepoTags: []string{"example.com/new:1"}, Size_: 1234}}
	})
	select {
	case ev := <-w.ResultChan():
		n, ok := ev.Object.(*corev1.Node)
		if !ok || len(n.Status.Images) != 1 || n.Status.Images[0].Names[0] != "example.com/new:1" {
			t.Fatalf("watch event %s %T, want the node with the new image", ev.Type, ev.Object)
		}
		heartbeat = readyConditionOf(n).LastHeartbeatTime
	case <-time.After(2 * time.Second):
		t.Fatal("new image not written within 2s")
	}
	// Then nothing changes: the status is reported again after the
	// report interval, with a new heartbeat.
	waitFor(t, 6*time.Second, "status reported again", func() (bool, string) {
		c := readyConditionOf(getNode(t, s.Client, "quiet-1"))
		return c.LastHeartbeatTime.After(heartbeat.Time), c.LastHeartbeatTime.String()
	})
}

// A Lease deleted by someone is created again, owned by the Node.
func TestLeaseRecreated(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	f := newFakeRuntime()
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	startNode(t, Config{Name: "lease-1", Client: client, Runtime: f, Images: f, RootDir: t.TempDir()})
	ctx := context.Background()
	leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var old *coordinationv1.Lease
	waitFor(t, 5*time.Second, "lease created", func() (bool, string) {
		var err error
		old, err = leases.Get(ctx, "lease-1", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	if err := leases.Delete(ctx, "lease-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	uid := getNode(t, s.Client, "lease-1").UID
	waitFor(t, 5*time.Second, "lease created again", func() (bool, string) {
		l, err := leases.Get(ctx, "lease-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.UID != old.UID && len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == uid, fmt.Sprintf("%+v", l.ObjectMeta)
	})
}
