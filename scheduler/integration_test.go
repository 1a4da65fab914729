package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/internal/testserver"
)

func TestIntegrationPodsAreBound(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	for i := 0; i < 3; i++ {
		createNode(t, c, testNode(fmt.Sprintf("node-%d", i), "4", "8Gi", 110))
	}
	startScheduler(t, ts)
	perNode := map[string]int{}
	for i := 0; i < 9; i++ {
		createPod(t, c, testPod("default", fmt.Sprintf("p%d", i), "500m", "256Mi"))
	}
	for i := 0; i < 9; i++ {
		perNode[waitBound(t, c, "default", fmt.Sprintf("p%d", i))]++
	}
	// LeastAllocated and BalancedAllocation spread equal pods evenly.
	for n, k := range perNode {
		if k != 3 {
			t.Errorf("node %s got %d pods, want 3 each: %v", n, k, perNode)
		}
	}
	p, err := c.CoreV1().Pods("default").Get(context.Background(), "p0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, c, "default", "p0", "Scheduled", "Successfully assigned default/p0 to "+p.Spec.NodeName)
	if e.Type != v1.EventTypeNormal || e.ReportingController != v1.DefaultSchedulerName || e.Action != "Binding" {
		t.Errorf("Scheduled event = type %q controller %q action %q", e.Type, e.ReportingController, e.Action)
	}
}

func TestIntegrationUnschedulableUntilNodeAdded(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	for i := 0; i < 3; i++ {
		createNode(t, c, testNode(fmt.Sprintf("node-%d", i), "1", "4Gi", 110))
	}
	startScheduler(t, ts)
	createPod(t, c, testPod("default", "big", "2", "1Gi"))
	const want = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	cond := waitUnschedulable(t, c, "default", "big", nil)
	if cond.Reason != v1.PodReasonUnschedulable || cond.Message != want {
		t.Fatalf("PodScheduled condition = %q %q, want %q %q", cond.Reason, cond.Message, v1.PodReasonUnschedulable, want)
	}
	e := waitEvent(t, c, "default", "big", "FailedScheduling", want)
	if e.Type != v1.EventTypeWarning || e.Action != "Scheduling" {
		t.Errorf("FailedScheduling event type %q action %q", e.Type, e.Action)
	}
	// The pod waits: it is still pending a moment later.
	time.Sleep(300 * time.Millisecond)
	if p, _ := c.CoreV1().Pods("default").Get(context.Background(), "big", metav1.GetOptions{}); p.Spec.NodeName != "" {
		t.Fatalf("pod bound to %s although it fits nowhere", p.Spec.NodeName)
	}
	createNode(t, c, testNode("node-big", "4", "8Gi", 110))
	if node := waitBound(t, c, "default", "big"); node != "node-big" {
		t.Fatalf("pod bound to %s, want node-big", node)
	}
}

func TestIntegrationNoNodes(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	startScheduler(t, ts)
	createPod(t, c, testPod("default", "lonely", "", ""))
	cond := waitUnschedulable(t, c, "default", "lonely", nil)
	if cond.Reason != v1.PodReasonUnschedulable || cond.Message != "no nodes available to schedule pods" {
		t.Fatalf("condition = %q %q", cond.Reason, cond.Message)
	}
	createNode(t, c, testNode("node-0", "1", "1Gi", 10))
	waitBound(t, c, "default", "lonely")
}

func TestIntegrationAntiAffinitySpreads(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	for i := 0; i < 3; i++ {
		createNode(t, c, testNode(fmt.Sprintf("node-%d", i), "4", "8Gi", 110))
	}
	startScheduler(t, ts)
	anti := func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				TopologyKey:   v1.LabelHostname,
			}},
		}}
	}
	nodes := map[string]bool{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		createPod(t, c, testPod("default", name, "100m", "64Mi", withPodLabels("app", "web"), anti))
		// One at a time, so that each sees the previous ones bound.
		nodes[waitBound(t, c, "default", name)] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("web pods on %d nodes, want 3: %v", len(nodes), nodes)
	}
	createPod(t, c, testPod("default", "web-3", "100m", "64Mi", withPodLabels("app", "web"), anti))
	const want = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	if cond := waitUnschedulable(t, c, "default", "web-3", nil); cond.Message != want {
		t.Fatalf("message %q, want %q", cond.Message, want)
	}
	// Pods without the label are not repelled.
	createPod(t, c, testPod("default", "other", "100m", "64Mi", withPodLabels("app", "db")))
	waitBound(t, c, "default", "other")
}

func TestIntegrationTaintsRepel(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	createNode(t, c, testNode("gpu-0", "4", "8Gi", 110, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule)))
	createNode(t, c, testNode("gpu-1", "4", "8Gi", 110, withTaint("dedicated", "gpu", v1.TaintEffectNoExecute)))
	createNode(t, c, testNode("plain", "4", "8Gi", 110))
	startScheduler(t, ts)
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("p%d", i)
		createPod(t, c, testPod("default", name, "100m", "64Mi"))
		if node := waitBound(t, c, "default", name); node != "plain" {
			t.Fatalf("pod %s bound to tainted node %s", name, node)
		}
	}
	// Fill the untainted node: the next pod fits nowhere.
	createPod(t, c, testPod("default", "big", "3900m", "64Mi"))
	const want = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	if cond := waitUnschedulable(t, c, "default", "big", nil); cond.Message != want {
		t.Fatalf("message %q, want %q", cond.Message, want)
	}
	// A pod tolerating the taint goes to a gpu node.
	tolerate := func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu"}}
	}
	createPod(t, c, testPod("default", "tolerant", "3", "64Mi", tolerate))
	if node := waitBound(t, c, "default", "tolerant"); node == "plain" {
		t.Fatalf("tolerant pod bound to %s", node)
	}
}

func TestIntegrationPreemption(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	ctx := context.Background()
	for name, value := range map[string]int32{"low": 100, "high": 1000} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createNode(t, c, testNode("node-0", "2", "4Gi", 110))
	startScheduler(t, ts)
	priority := func(class string) podOpt { return func(p *v1.Pod) { p.Spec.PriorityClassName = class } }
	createPod(t, c, testPod("default", "victim", "1500m", "64Mi", priority("low")))
	createPod(t, c, testPod("default", "bystander", "200m", "64Mi", priority("high")))
	waitBound(t, c, "default", "victim")
	waitBound(t, c, "default", "bystander")

	createPod(t, c, testPod("default", "preemptor", "1", "64Mi", priority("high")))
	waitFor(t, 20*time.Second, "victim evicted", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.DeletionTimestamp == nil {
			return false, nil
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.DisruptionTarget && cond.Status == v1.ConditionTrue && cond.Reason == v1.PodReasonPreemptionByScheduler &&
				cond.Message == "default-scheduler: preempting to accommodate a higher priority pod" {
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
	})
	waitFor(t, 20*time.Second, "preemptor nominated", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "preemptor", metav1.GetOptions{})
		return err == nil && p.Status.NominatedNodeName == "node-0", err
	})
	waitEvent(t, c, "default", "victim", "Preempted", "")
	// The bystander has the preemptor's priority: it is not a victim.
	if p, err := c.CoreV1().Pods("default").Get(ctx, "bystander", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("bystander preempted (err %v)", err)
	}
	// No kubelet finishes the victim: do it as one would.
	zero := int64(0)
	if err := c.CoreV1().Pods("default").Delete(ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if node := waitBound(t, c, "default", "preemptor"); node != "node-0" {
		t.Fatalf("preemptor bound to %s", node)
	}
}

func TestIntegrationSchedulingGates(t *testing.T) {
	ts := testserver.Start(t, testserver.Bare)
	c := ts.Client
	ctx := context.Background()
	createNode(t, c, testNode("node-0", "4", "8Gi", 110))
	startScheduler(t, ts)
	gated := testPod("default", "gated", "100m", "64Mi", func(p *v1.Pod) {
		p.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "example.com/wait"}}
	})
	createPod(t, c, gated)
	createPod(t, c, testPod("default", "free", "100m", "64Mi"))
	waitBound(t, c, "default", "free")
	time.Sleep(200 * time.Millisecond)
	p, err := c.CoreV1().Pods("default").Get(ctx, "gated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" {
		t.Fatalf("gated pod bound to %s", p.Spec.NodeName)
	}
	if evs, _ := c.EventsV1().Events("default").List(ctx, metav1.ListOptions{}); evs != nil {
		for _, e := range evs.Items {
			if e.Regarding.Name == "gated" && e.Reason == "FailedScheduling" {
				t.Fatalf("gated pod was attempted: %s", e.Note)
			}
		}
	}
	p.Spec.SchedulingGates = nil
	if _, err := c.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, c, "default", "gated")
}
