package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/internal/testserver"
	"berth/sim"
)

// start runs a bare control plane and a simulator with cfg against it.
func start(t *testing.T, cfg sim.Config) (*testserver.Server, *sim.Sim) {
	t.Helper()
	srv := testserver.Start(t, testserver.Bare)
	cfg.Client = kubernetes.NewForConfigOrDie(srv.ProtobufConfig())
	cfg.Logger = srv.Config.Logger
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sim stopped with: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("sim did not stop")
		}
	})
	return srv, s
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestNodes(t *testing.T) {
	ctx := context.Background()
	srv, s := start(t, sim.Config{
		Nodes: 3, Zones: 2, CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 50,
		Labels:            map[string]string{"tier": "sim"},
		Taints:            []corev1.Taint{{Key: "dedicated", Value: "sim", Effect: corev1.TaintEffectNoSchedule}},
		HeartbeatInterval: 300 * time.Millisecond,
	})
	c := srv.Client
	if got, want := strings.Join(s.NodeNames(), ","), "sim-0,sim-1,sim-2"; got != want {
		t.Fatalf("node names %s, want %s", got, want)
	}

	var nodes []corev1.Node
	eventually(t, 10*time.Second, func() error {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if nodeReady(&list.Items[i]) {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d of %d nodes ready", ready, len(list.Items))
		}
		nodes = list.Items
		return nil
	})
	cidrs := map[string]bool{}
	for _, n := range nodes {
		st := n.Status
		for res, want := range map[corev1.ResourceName]string{"cpu": "8", "memory": "32Gi", "pods": "50", "ephemeral-storage": "100Gi"} {
			if q := st.Capacity[res]; q.Cmp(resource.MustParse(want)) != 0 {
				t.Errorf("%s capacity %s = %s, want %s", n.Name, res, q.String(), want)
			}
			if q := st.Allocatable[res]; q.Cmp(resource.MustParse(want)) != 0 {
				t.Errorf("%s allocatable %s = %s, want %s", n.Name, res, q.String(), want)
			}
		}
		for k, want := range map[string]string{
			"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "tier": "sim",
		} {
			if n.Labels[k] != want {
				t.Errorf("%s label %s = %q, want %q", n.Name, k, n.Labels[k], want)
			}
		}
		wantZone := map[string]string{"sim-0": "zone-0", "sim-1": "zone-1", "sim-2": "zone-0"}[n.Name]
		if z := n.Labels["topology.kubernetes.io/zone"]; z != wantZone {
			t.Errorf("%s zone %q, want %q", n.Name, z, wantZone)
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated" {
			t.Errorf("%s taints %v", n.Name, n.Spec.Taints)
		}
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err != nil || p.Bits() != 24 || cidrs[n.Spec.PodCIDR] ||
			!netip.MustParsePrefix("10.42.0.0/16").Contains(p.Addr()) {
			t.Errorf("%s podCIDR %q (err %v), seen %v", n.Name, n.Spec.PodCIDR, err, cidrs)
		}
		cidrs[n.Spec.PodCIDR] = true
		if st.NodeInfo.KubeletVersion != "v1.33.0-sim" || st.NodeInfo.ContainerRuntimeVersion != "sim://0.1" ||
			st.NodeInfo.OperatingSystem != "linux" || st.NodeInfo.Architecture != "amd64" {
			t.Errorf("%s nodeInfo %+v", n.Name, st.NodeInfo)
		}
		if len(st.Addresses) != 2 || st.Addresses[0].Type != corev1.NodeInternalIP || st.Addresses[1].Address != n.Name {
			t.Errorf("%s addresses %v", n.Name, st.Addresses)
		}
		var types []string
		for _, c := range st.Conditions {
			types = append(types, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
		}
		if got, want := strings.Join(types, " "), "MemoryPressure=False/KubeletHasSufficientMemory DiskPressure=False/KubeletHasNoDiskPressure PIDPressure=False/KubeletHasSufficientPID Ready=True/KubeletReady"; got != want {
			t.Errorf("%s conditions %s, want %s", n.Name, got, want)
		}
	}

	// Leases are renewed, and owned by their nodes.
	var lease *coordinationv1.Lease
	eventually(t, 5*time.Second, func() (err error) {
		lease, err = c.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-1", metav1.GetOptions{})
		return err
	})
	if ptr.Deref(lease.Spec.HolderIdentity, "") != "sim-1" || ptr.Deref(lease.Spec.LeaseDurationSeconds, 0) != 40 ||
		len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease %+v %+v", lease.Spec, lease.OwnerReferences)
	}
	renewed := func(name string, after time.Time) func() error {
		return func() error {
			l, err := c.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !l.Spec.RenewTime.Time.After(after) {
				return fmt.Errorf("lease %s renewed at %s, not after %s", name, l.Spec.RenewTime.Time, after)
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, renewed("sim-1", lease.Spec.RenewTime.Time))

	// A node the node controller marked Unknown reports Ready again.
	n, err := c.CoreV1().Nodes().Get(ctx, "sim-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Status.Conditions {
		n.Status.Conditions[i].Status, n.Status.Conditions[i].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "sim-2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) {
			return fmt.Errorf("sim-2 conditions %v", n.Status.Conditions)
		}
		return nil
	})

	// A stopped heartbeat leaves the Lease stale; resuming renews it.
	if err := s.StopHeartbeat("sim-0"); err != nil {
		t.Fatal(err)
	}
	if err := s.StopHeartbeat("sim-9"); err == nil {
		t.Error("StopHeartbeat of an unknown node: no error")
	}
	stoppedAt := time.Now()
	time.Sleep(1200 * time.Millisecond) // four heartbeat intervals
	l0, err := c.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l0.Spec.RenewTime.Time.After(stoppedAt.Add(50 * time.Millisecond)) {
		t.Errorf("stopped node's lease renewed at %s, stopped at %s", l0.Spec.RenewTime.Time, stoppedAt)
	}
	eventually(t, time.Second, renewed("sim-1", stoppedAt.Add(300*time.Millisecond)))
	if err := s.ResumeHeartbeat("sim-0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, renewed("sim-0", l0.Spec.RenewTime.Time))

	// Nodes added while running register too.
	names, err := s.AddNodes(2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "sim-3,sim-4" {
		t.Errorf("added %s, want sim-3,sim-4", got)
	}
	eventually(t, 10*time.Second, func() error {
		for _, name := range names {
			n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !nodeReady(n) {
				return fmt.Errorf("%s not ready", name)
			}
			if _, err := c.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if got := len(s.NodeNames()); got != 5 {
		t.Errorf("%d node names, want 5", got)
	}
}

func testPod(name, node string, policy corev1.RestartPolicy, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "app", Image: "registry.local/app:1"}},
		},
	}
}

func getPod(ctx context.Context, c kubernetes.Interface, name string) (*corev1.Pod, error) {
	return c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func waitPhase(t *testing.T, c kubernetes.Interface, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 10*time.Second, func() error {
		p, err := getPod(context.Background(), c, name)
		if err != nil {
			return err
		}
		if p.Status.Phase != phase {
			return fmt.Errorf("pod %s phase %q, want %s", name, p.Status.Phase, phase)
		}
		pod = p
		return nil
	})
	return pod
}

func TestPods(t *testing.T) {
	ctx := context.Background()
	srv, _ := start(t, sim.Config{Nodes: 2, JobPodDuration: 500 * time.Millisecond, HeartbeatInterval: time.Second})
	c := srv.Client

	// Two pods on one node: Running, Ready, distinct IPs from the node's
	// pod CIDR, container statuses as a kubelet reports them.
	for _, name := range []string{"web-1", "web-2"} {
		if _, err := c.CoreV1().Pods("default").Create(ctx, testPod(name, "sim-1", corev1.RestartPolicyAlways, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	node, err := c.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	for err != nil || node.Spec.PodCIDR == "" {
		time.Sleep(50 * time.Millisecond)
		node, err = c.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	}
	cidr := netip.MustParsePrefix(node.Spec.PodCIDR)
	ips := map[string]string{}
	for _, name := range []string{"web-1", "web-2"} {
		p := waitPhase(t, c, name, corev1.PodRunning)
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !cidr.Contains(ip) || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
			t.Errorf("%s podIP %q podIPs %v, want one in %s", name, p.Status.PodIP, p.Status.PodIPs, cidr)
		}
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("%s and %s share IP %s", name, other, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = name
		if p.Status.HostIP != node.Status.Addresses[0].Address || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("%s hostIP %q (node %q) startTime %v qos %q", name, p.Status.HostIP, node.Status.Addresses[0].Address, p.Status.StartTime, p.Status.QOSClass)
		}
		var conds []string
		for _, c := range p.Status.Conditions {
			conds = append(conds, string(c.Type)+"="+string(c.Status))
		}
		if got, want := strings.Join(conds, " "), "PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True"; got != want {
			t.Errorf("%s conditions %s, want %s", name, got, want)
		}
		if len(p.Status.ContainerStatuses) != 1 {
			t.Fatalf("%s container statuses %v", name, p.Status.ContainerStatuses)
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.Name != "app" || cs.State.Running == nil || !cs.Ready || !ptr.Deref(cs.Started, false) || cs.RestartCount != 0 ||
			cs.Image != "registry.local/app:1" || cs.ImageID != "sim://registry.local/app:1" || !strings.HasPrefix(cs.ContainerID, "sim://") {
			t.Errorf("%s container status %+v", name, cs)
		}
	}

	// kubectl shows them as a kubelet's pods.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", srv.Kubeconfig, "get", "pods", "-o", "wide", "--no-headers").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 7 || f[1] != "1/1" || f[2] != "Running" || ips[f[5]] != f[0] || f[6] != "sim-1" {
				t.Errorf("kubectl get pods -o wide: %q", line)
			}
		}
	} else {
		t.Log("kubectl not found; skipping its check")
	}

	// Pods that do not restart always finish: Succeeded, or Failed with
	// the exit code asked for.
	jobs := []*corev1.Pod{
		testPod("job-ok", "sim-0", corev1.RestartPolicyNever, nil),
		testPod("job-fail", "sim-0", corev1.RestartPolicyNever, map[string]string{sim.AnnotationExitCode: "3"}),
		testPod("job-onfailure", "sim-0", corev1.RestartPolicyOnFailure, nil),
	}
	for _, p := range jobs {
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		phase  corev1.PodPhase
		code   int32
		reason string
	}{
		{"job-ok", corev1.PodSucceeded, 0, "Completed"},
		{"job-fail", corev1.PodFailed, 3, "Error"},
		{"job-onfailure", corev1.PodSucceeded, 0, "Completed"},
	} {
		p := waitPhase(t, c, tc.name, tc.phase)
		cs := p.Status.ContainerStatuses[0]
		term := cs.State.Terminated
		if term == nil || term.ExitCode != tc.code || term.Reason != tc.reason || cs.Ready || term.FinishedAt.Before(&term.StartedAt) {
			t.Errorf("%s container status %+v", tc.name, cs)
		}
		wantReason := map[corev1.PodPhase]string{corev1.PodSucceeded: "PodCompleted", corev1.PodFailed: "PodFailed"}[tc.phase]
		if r := podCondition(p, corev1.PodReady); r == nil || r.Status != corev1.ConditionFalse || r.Reason != wantReason {
			t.Errorf("%s Ready condition %+v, want False/%s", tc.name, r, wantReason)
		}
	}

	// OnFailure pods that fail are restarted.
	if _, err := c.CoreV1().Pods("default").Create(ctx, testPod("job-retry", "sim-0", corev1.RestartPolicyOnFailure,
		map[string]string{sim.AnnotationExitCode: "1", sim.AnnotationDuration: "200ms"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		p, err := getPod(ctx, c, "job-retry")
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 2 {
			return fmt.Errorf("job-retry statuses %+v", p.Status.ContainerStatuses)
		}
		cs := p.Status.ContainerStatuses[0]
		if p.Status.Phase != corev1.PodRunning || cs.State.Running == nil || cs.LastTerminationState.Terminated == nil ||
			cs.LastTerminationState.Terminated.ExitCode != 1 {
			return fmt.Errorf("job-retry phase %s status %+v", p.Status.Phase, cs)
		}
		return nil
	})

	// A deleted pod is killed, reported Failed, and removed.
	if err := c.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := getPod(ctx, c, "web-1")
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("web-1 still there (err %v)", err)
	})

	// A new pod on the node can reuse nothing that is still in use.
	if _, err := c.CoreV1().Pods("default").Create(ctx, testPod("web-3", "sim-1", corev1.RestartPolicyAlways, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p3 := waitPhase(t, c, "web-3", corev1.PodRunning)
	p2, err := getPod(ctx, c, "web-2")
	if err != nil {
		t.Fatal(err)
	}
	if p3.Status.PodIP == p2.Status.PodIP {
		t.Errorf("web-3 got web-2's IP %s", p2.Status.PodIP)
	}
}
