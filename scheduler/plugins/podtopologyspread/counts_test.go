package podtopologyspread

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
	st "berth/scheduler/schedtest"
)

func TestMatchCounterRemembersUnchangedNodes(t *testing.T) {
	a := framework.NewNodeInfo(st.MakeNode().Name("a").Obj(),
		st.MakePod().Name("p1").Node("a").Label("app", "web").Obj(),
		st.MakePod().Name("p2").Node("a").Label("app", "web").Obj())
	b := framework.NewNodeInfo(st.MakeNode().Name("b").Obj(), st.MakePod().Name("p3").Node("b").Label("app", "db").Obj())
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	var m matchCounter
	p := framework.Parallelizer{Workers: 2}
	got, e := m.counts(context.Background(), p, []*framework.NodeInfo{a, b}, 2, sel, "default")
	if got[0] != 2 || got[1] != 0 {
		t.Fatalf("counts %v", got)
	}
	// Remembered counts are used while the NodeInfo is the same object:
	// change a's pods behind the counter's back to see it.
	a.Pods = a.Pods[:1]
	if got, _ := m.counts(context.Background(), p, []*framework.NodeInfo{a, b}, 2, sel, "default"); got[0] != 2 {
		t.Errorf("count recomputed for an unchanged NodeInfo: %v", got)
	}
	// A new NodeInfo for b (as the snapshot makes when b's pods change) is
	// counted again.
	b2 := b.Snapshot()
	b2.AddPodInfo(framework.NewPodInfo(st.MakePod().Name("p4").Node("b").Label("app", "web").Obj()))
	got, e2 := m.counts(context.Background(), p, []*framework.NodeInfo{a, b2}, 2, sel, "default")
	if got[1] != 1 || e2 != e {
		t.Errorf("counts %v after b changed", got)
	}
	if n, ok := e.get(b); ok {
		t.Errorf("the old NodeInfo of b still has a count (%d)", n)
	}
	// Another namespace is another key.
	if got, _ := m.counts(context.Background(), p, []*framework.NodeInfo{a, b2}, 2, sel, "other"); got[0] != 0 || got[1] != 0 {
		t.Errorf("other namespace counts %v", got)
	}
	if got, e := m.counts(context.Background(), p, []*framework.NodeInfo{a}, 2, labels.Everything(), "default"); got[0] != 0 || e != nil {
		t.Error("an empty selector matched")
	}
}
