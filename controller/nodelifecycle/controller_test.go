package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSilentNodeBecomesUnknownAndTainted(t *testing.T) {
	f := newFixture(t,
		readyNode("a", t0, nil), nodeLease("a", t0),
		readyNode("b", t0, nil), nodeLease("b", t0),
		readyPod("p", "b"), readyPod("q", "a"))
	f.pass(0)
	if ev := f.events(); !hasEvent(ev, "Normal RegisteredNode Node a event: Registered Node a in Controller") {
		t.Errorf("events = %q; want RegisteredNode", ev)
	}

	// a keeps renewing its lease; b is silent for less than the grace period.
	f.now = f.now.Add(30 * time.Second)
	f.heartbeat("a")
	f.pass(0)
	if s := nodeCondition(&f.node("b").Status, corev1.NodeReady).Status; s != corev1.ConditionTrue {
		t.Fatalf("b Ready = %s within the grace period", s)
	}

	// Past the grace period.
	f.now = f.now.Add(15 * time.Second)
	f.heartbeat("a")
	f.pass(0)
	b := f.node("b")
	for _, ct := range unknownConditions {
		c := nodeCondition(&b.Status, ct)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
			t.Errorf("b condition %s = %+v; want Unknown/NodeStatusUnknown", ct, c)
		}
		if c != nil && !c.LastTransitionTime.Time.Equal(f.now) {
			t.Errorf("b condition %s transition = %v; want %v", ct, c.LastTransitionTime, f.now)
		}
	}
	if s := nodeCondition(&f.node("a").Status, corev1.NodeReady).Status; s != corev1.ConditionTrue {
		t.Errorf("a Ready = %s; its lease is renewed", s)
	}
	if hasTaint(b.Spec.Taints, unreachableTaint) {
		t.Errorf("b taints = %v; the taint is queued on the pass that sees Unknown, as Kubernetes does", taintKeys(b.Spec.Taints))
	}
	f.heartbeat("a")
	f.pass(5 * time.Second)
	b = f.node("b")
	if !hasTaint(b.Spec.Taints, unreachableTaint) {
		t.Errorf("b taints = %v; want unreachable NoExecute", taintKeys(b.Spec.Taints))
	}
	for _, tt := range b.Spec.Taints {
		if tt.Key == corev1.TaintNodeUnreachable && (tt.TimeAdded == nil || !tt.TimeAdded.Time.Equal(f.now)) {
			t.Errorf("taint %s timeAdded = %v; want %v", tt.Key, tt.TimeAdded, f.now)
		}
	}
	if c := podReady(f.pod("p")); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("pod on b Ready = %+v; want False", c)
	}
	if c := podReady(f.pod("q")); c.Status != corev1.ConditionTrue {
		t.Errorf("pod on a Ready = %s; want True", c.Status)
	}
	ev := f.events()
	for _, want := range []string{"Normal NodeNotReady Node b status is now: NodeNotReady", "Warning NodeNotReady Node is not ready"} {
		if !hasEvent(ev, want) {
			t.Errorf("events = %q; want %q", ev, want)
		}
	}

	// The NoSchedule taint follows the condition.
	if err := f.c.syncNode(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if keys := taintKeys(f.node("b").Spec.Taints); !slices.Contains(keys, corev1.TaintNodeUnreachable+":NoSchedule") {
		t.Errorf("b taints = %v; want unreachable NoSchedule", keys)
	}

	// b reports Ready again: the taints go.
	b = f.node("b")
	ready := nodeCondition(&b.Status, corev1.NodeReady)
	ready.Status, ready.Reason, ready.LastHeartbeatTime = corev1.ConditionTrue, "KubeletReady", metav1.NewTime(f.now.Add(time.Second))
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(context.Background(), b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.heartbeat("a")
	f.pass(time.Second)
	if err := f.c.syncNode(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if taints := f.node("b").Spec.Taints; len(taints) != 0 {
		t.Errorf("b taints after recovery = %v; want none", taintKeys(taints))
	}
}

func podReady(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestLeaseAloneKeepsNodeHealthy(t *testing.T) {
	f := newFixture(t, readyNode("a", t0, nil), nodeLease("a", t0), readyNode("b", t0, nil), nodeLease("b", t0))
	f.pass(0)
	for i := 0; i < 5; i++ {
		f.now = f.now.Add(30 * time.Second)
		f.heartbeat("a")
		f.heartbeat("b")
		f.pass(0)
	}
	for _, n := range []string{"a", "b"} {
		if s := nodeCondition(&f.node(n).Status, corev1.NodeReady).Status; s != corev1.ConditionTrue {
			t.Errorf("%s Ready = %s after 150s of lease renewals", n, s)
		}
	}
}

func TestNotReadyNodeGetsNotReadyTaint(t *testing.T) {
	a, b := readyNode("a", t0, nil), readyNode("b", t0, nil)
	b.Status.Conditions[0].Status = corev1.ConditionFalse
	b.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	f := newFixture(t, a, nodeLease("a", t0), b, nodeLease("b", t0))
	// A new node loses NoExecute taints at first sight; add it again.
	f.pass(0)
	if hasTaint(f.node("b").Spec.Taints, unreachableTaint) {
		t.Fatalf("b taints = %v; a new node starts without NoExecute taints", taintKeys(f.node("b").Spec.Taints))
	}
	f.heartbeat("a")
	f.heartbeat("b")
	f.pass(time.Second)
	taints := f.node("b").Spec.Taints
	if !hasTaint(taints, notReadyTaint) || hasTaint(taints, unreachableTaint) {
		t.Errorf("b taints = %v; want only not-ready NoExecute", taintKeys(taints))
	}
}

func TestAllNodesDownStopsTainting(t *testing.T) {
	f := newFixture(t, readyNode("a", t0, nil), nodeLease("a", t0), readyPod("p", "a"))
	f.pass(0)
	f.pass(41 * time.Second)
	a := f.node("a")
	if s := nodeCondition(&a.Status, corev1.NodeReady).Status; s != corev1.ConditionUnknown {
		t.Fatalf("a Ready = %s; want Unknown", s)
	}
	if hasTaint(a.Spec.Taints, unreachableTaint) {
		t.Errorf("a taints = %v; with every zone down nothing is tainted", taintKeys(a.Spec.Taints))
	}
	if c := podReady(f.pod("p")); c.Status != corev1.ConditionFalse {
		t.Errorf("pod Ready = %s; pods are marked not ready even then", c.Status)
	}
	f.pass(time.Minute)
	if hasTaint(f.node("a").Spec.Taints, unreachableTaint) {
		t.Error("tainted later while every zone is still down")
	}
}

func TestZonesAreTaintedAtTheirRate(t *testing.T) {
	zone := map[string]string{corev1.LabelTopologyZone: "z1"}
	objs := []runtime.Object{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		objs = append(objs, readyNode(n, t0, zone), nodeLease(n, t0))
	}
	f := newFixture(t, objs...)
	f.pass(0)
	// b and c go silent (2 of 6: the zone stays Normal, rate 0.1/s).
	f.now = f.now.Add(41 * time.Second)
	for _, n := range []string{"a", "d", "e", "f"} {
		f.heartbeat(n)
	}
	f.pass(0)
	for _, n := range []string{"a", "d", "e", "f"} {
		f.heartbeat(n)
	}
	f.pass(time.Second)
	tainted := 0
	for _, n := range []string{"b", "c"} {
		if hasTaint(f.node(n).Spec.Taints, unreachableTaint) {
			tainted++
		}
	}
	if tainted != 1 {
		t.Fatalf("%d nodes tainted at once; the zone's rate allows 1", tainted)
	}
	f.now = f.now.Add(10 * time.Second)
	f.c.taintPass(context.Background())
	for _, n := range []string{"b", "c"} {
		if !hasTaint(f.node(n).Spec.Taints, unreachableTaint) {
			t.Errorf("%s not tainted 10s later", n)
		}
	}
}
