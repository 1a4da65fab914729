package cache

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	st "berth/scheduler/schedtest"
)

func requested(t *testing.T, s *framework.Snapshot, node string) int64 {
	t.Helper()
	ni, err := s.Get(node)
	if err != nil {
		t.Fatal(err)
	}
	return ni.Requested.MilliCPU
}

func TestAssumeConfirmForget(t *testing.T) {
	c := New(nil)
	c.AddNode(st.MakeNode().Name("n1").Alloc("cpu", "4").Obj())
	c.AddNode(st.MakeNode().Name("n2").Alloc("cpu", "4").Obj())
	snap := framework.NewEmptySnapshot()

	pod := st.MakePod().Name("p").Req("cpu", "1").Obj()
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = "n1"
	if err := c.AssumePod(framework.NewPodInfo(assumed)); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	if requested(t, snap, "n1") != 1000 || !c.IsAssumedPod(pod) {
		t.Fatal("assumed pod not counted on its node")
	}
	if err := c.AssumePod(framework.NewPodInfo(assumed)); err == nil {
		t.Error("a pod was assumed twice")
	}
	// The informer reports the binding: the pod is confirmed.
	c.FinishBinding(assumed)
	if err := c.AddPod(assumed); err != nil {
		t.Fatal(err)
	}
	if c.IsAssumedPod(pod) {
		t.Error("confirmed pod still assumed")
	}
	if bound, a := c.Counts(); bound != 1 || a != 0 {
		t.Errorf("counts %d bound %d assumed", bound, a)
	}
	if err := c.ForgetPod(assumed); err == nil {
		t.Error("a confirmed pod was forgotten")
	}

	// A second pod's binding fails: forgotten, its room freed.
	other := st.MakePod().Name("q").Node("n2").Req("cpu", "2").Obj()
	c.AssumePod(framework.NewPodInfo(other))
	c.UpdateSnapshot(snap)
	if requested(t, snap, "n2") != 2000 {
		t.Fatal("second pod not counted")
	}
	if err := c.ForgetPod(other); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	if requested(t, snap, "n2") != 0 || c.PodCount() != 1 {
		t.Errorf("forgotten pod still counted (%d pods)", c.PodCount())
	}
}

func TestPodUpdateAndRemove(t *testing.T) {
	c := New(nil)
	c.AddNode(st.MakeNode().Name("n1").Obj())
	snap := framework.NewEmptySnapshot()
	p := st.MakePod().Name("p").Node("n1").Req("cpu", "1").Label("app", "a").Obj()
	c.AddPod(p)
	p2 := p.DeepCopy()
	p2.Labels["app"] = "b"
	p2.ResourceVersion = "2"
	oldInfo, newInfo, err := c.UpdatePod(p, p2)
	if err != nil || oldInfo.Pod.Labels["app"] != "a" || newInfo.Pod.Labels["app"] != "b" {
		t.Fatalf("update: %v", err)
	}
	if ev, ok := framework.AssignedPodUpdateEvent(oldInfo, newInfo); !ok || ev.ActionType != framework.UpdatePodLabel {
		t.Errorf("label change event %v %v", ev, ok)
	}
	c.UpdateSnapshot(snap)
	if ni, _ := snap.Get("n1"); len(ni.Pods) != 1 || ni.Pods[0].Pod.Labels["app"] != "b" {
		t.Fatal("snapshot not updated")
	}
	if err := c.RemovePod(p2); err != nil {
		t.Fatal(err)
	}
	if err := c.RemovePod(p2); err == nil {
		t.Error("a pod was removed twice")
	}
	c.UpdateSnapshot(snap)
	if requested(t, snap, "n1") != 0 {
		t.Error("removed pod still counted")
	}
}

func TestNodeRemovedWithPods(t *testing.T) {
	c := New(nil)
	n := st.MakeNode().Name("n1").Obj()
	snap := framework.NewEmptySnapshot()
	// A pod may be seen before its node.
	p := st.MakePod().Name("p").Node("n1").Obj()
	c.AddPod(p)
	c.UpdateSnapshot(snap)
	if snap.NumNodes() != 0 {
		t.Fatal("a node known only from its pods is listed")
	}
	c.AddNode(n)
	c.UpdateSnapshot(snap)
	if ni, err := snap.Get("n1"); err != nil || len(ni.Pods) != 1 {
		t.Fatal("node added after its pod lost the pod")
	}
	c.RemoveNode(n)
	c.UpdateSnapshot(snap)
	if snap.NumNodes() != 0 || c.NodeCount() != 0 {
		t.Fatal("removed node still listed")
	}
	if err := c.RemovePod(p); err != nil {
		t.Fatalf("pod of a removed node: %v", err)
	}
}

func TestSnapshotCopiesOnlyChangedNodes(t *testing.T) {
	c := New(nil)
	for i := 0; i < 3; i++ {
		c.AddNode(st.MakeNode().Name(fmt.Sprintf("n%d", i)).Obj())
	}
	snap := framework.NewEmptySnapshot()
	c.UpdateSnapshot(snap)
	before := append([]*framework.NodeInfo(nil), snap.List()...)
	c.AddPod(st.MakePod().Name("p").Node("n1").Obj())
	c.UpdateSnapshot(snap)
	after := snap.List()
	if before[0] != after[0] || before[2] != after[2] {
		t.Error("unchanged nodes were copied again")
	}
	if before[1] == after[1] || len(after[1].Pods) != 1 {
		t.Error("the changed node was not copied")
	}
	if len(before[1].Pods) != 0 {
		t.Error("the previous snapshot's node changed")
	}
}

func TestNodeOrderInterleavesZones(t *testing.T) {
	c := New(nil)
	zone := func(name, z string) *v1.Node {
		return st.MakeNode().Name(name).Label(v1.LabelTopologyZone, z).Obj()
	}
	for _, n := range []*v1.Node{zone("a1", "a"), zone("a2", "a"), zone("a3", "a"), zone("b1", "b"), zone("c1", "c"), zone("c2", "c")} {
		c.AddNode(n)
	}
	snap := framework.NewEmptySnapshot()
	c.UpdateSnapshot(snap)
	var got []string
	for _, ni := range snap.List() {
		got = append(got, ni.Node().Name)
	}
	if want := "[a1 b1 c1 a2 c2 a3]"; fmt.Sprint(got) != want {
		t.Errorf("order %v, want %s", got, want)
	}
	// Moving a node to another zone reorders.
	old := zone("a1", "a")
	c.UpdateNode(old, zone("a1", "b"))
	c.UpdateSnapshot(snap)
	got = got[:0]
	for _, ni := range snap.List() {
		got = append(got, ni.Node().Name)
	}
	if want := "[a2 b1 c1 a3 a1 c2]"; fmt.Sprint(got) != want {
		t.Errorf("order after a zone change %v, want %s", got, want)
	}
}
