package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth/server"
)

func cpuPod(name, cpu, class string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       podSpec("berth/demo:v1"),
	}
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	p.Spec.PriorityClassName = class
	return p
}

// Required anti-affinity puts each replica on its own node.
func TestAntiAffinitySpreads(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	ctx := context.Background()
	d := deployment("spread", 3, "berth/demo:v1")
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			TopologyKey:   "kubernetes.io/hostname",
		}},
	}}
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range c.waitRunning(selector(map[string]string{"app": "spread"}), 3) {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("3 replicas on %d nodes, want one per node", len(nodes))
	}
}

// A NoSchedule taint keeps pods that do not tolerate it away.
func TestTaintsRepel(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	ctx := context.Background()
	tainted := c.sim.NodeNames()[0]
	patch := `{"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}}`
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, tainted, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("away", 6, "berth/demo:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.waitRunning(selector(map[string]string{"app": "away"}), 6) {
		if p.Spec.NodeName == tainted {
			t.Fatalf("pod %s scheduled on the tainted node %s", p.Name, tainted)
		}
	}
}

// A pod that fits nowhere stays Pending with Kubernetes' reason, and is
// scheduled once a node that fits joins.
func TestUnschedulableMessage(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	ctx := context.Background()
	if _, err := c.client.CoreV1().Pods(c.ns).Create(ctx, cpuPod("big", "6", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var msg string
	c.eventually("PodScheduled=False", 30*time.Second, func() (bool, error) {
		p, err := c.client.CoreV1().Pods(c.ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				msg = cond.Message
				return true, nil
			}
		}
		return false, nil
	})
	if !strings.HasPrefix(msg, "0/3 nodes are available: 3 Insufficient cpu.") {
		t.Errorf("message %q, want it to start with %q", msg, "0/3 nodes are available: 3 Insufficient cpu.")
	}
	c.eventually("FailedScheduling event", 30*time.Second, func() (bool, error) {
		evs, err := c.client.EventsV1().Events(c.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Regarding.Name == "big" && strings.Contains(e.Note, "Insufficient cpu") {
				return true, nil
			}
		}
		return false, nil
	})
}

// A high-priority pod preempts a lower-priority one when nothing else fits.
func TestPreemption(t *testing.T) {
	t.Parallel()
	c := start(t, 2)
	ctx := context.Background()
	low, high := "low", "high"
	for name, value := range map[string]int32{low: 100, high: 1000} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if _, err := c.client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"filler-a", "filler-b"} {
		if _, err := c.client.CoreV1().Pods(c.ns).Create(ctx, cpuPod(name, "3", low), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.eventually("fillers running", 30*time.Second, func() (bool, error) {
		return runningReady(c.pods("")) == 2, nil
	})
	if _, err := c.client.CoreV1().Pods(c.ns).Create(ctx, cpuPod("urgent", "3", high), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("urgent pod running after preempting a filler", 60*time.Second, func() (bool, error) {
		p, err := c.client.CoreV1().Pods(c.ns).Get(ctx, "urgent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase != corev1.PodRunning {
			return false, nil
		}
		gone := 0
		for _, name := range []string{"filler-a", "filler-b"} {
			if _, err := c.client.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				gone++
			}
		}
		if gone != 1 {
			t.Fatalf("%d fillers preempted, want exactly 1", gone)
		}
		return true, nil
	})
}

// A node that stops heartbeating becomes NotReady and tainted, and its pods
// are replaced on the other nodes once their tolerations run out.
func TestNodeFailure(t *testing.T) {
	t.Parallel()
	c := start(t, 3, func(cfg *server.Config) { cfg.DefaultTolerationSeconds = 2 })
	ctx := context.Background()
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("survivor", 6, "berth/demo:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := selector(map[string]string{"app": "survivor"})
	pods := c.waitRunning(sel, 6)
	failed := pods[0].Spec.NodeName
	if err := c.sim.StopHeartbeat(failed); err != nil {
		t.Fatal(err)
	}
	c.eventually("node NotReady with the unreachable taint", 30*time.Second, func() (bool, error) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, failed, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		unknown, tainted := false, false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionUnknown {
				unknown = true
			}
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoExecute {
				tainted = true
			}
		}
		return unknown && tainted, nil
	})
	c.eventually("6 pods running on the other nodes", 60*time.Second, func() (bool, error) {
		live := 0
		for _, p := range c.pods(sel) {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != failed && p.Status.Phase == corev1.PodRunning && podReady(&p) {
				live++
			}
		}
		return live == 6, nil
	})
}
