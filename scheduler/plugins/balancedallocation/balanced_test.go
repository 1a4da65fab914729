package balancedallocation

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("balanced").Alloc("cpu", "4", "memory", "8Gi").Obj(),
		st.MakeNode().Name("skewed").Alloc("cpu", "8", "memory", "8Gi").Obj(),
		st.MakeNode().Name("full").Alloc("cpu", "1", "memory", "100Gi").Obj(),
	}
	existing := []*v1.Pod{st.MakePod().Name("e").Node("balanced").Req("cpu", "1", "memory", "2Gi").Obj()}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: existing}, framework.PluginSpec{New: New, Weight: 1})
	got := frameworktest.Score(t, f, snap, st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj())
	// balanced: 2/4 and 4/8 → std 0; skewed: 1/8 and 2/8 → std 0.0625;
	// full: cpu capped at 1, memory 0.02 → std 0.49.
	if got["balanced"] != 100 || got["skewed"] != 93 || got["full"] != 51 {
		t.Errorf("scores %v", got)
	}
	// Best-effort pods are not scored (all 0).
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("q").Obj())
	if got["balanced"] != 0 || got["skewed"] != 0 {
		t.Errorf("best-effort scores %v", got)
	}
}
