package noderesources

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("small").Alloc("cpu", "2", "memory", "4Gi", "pods", "2", "example.com/gpu", "1").Obj(),
		st.MakeNode().Name("big").Alloc("cpu", "8", "memory", "32Gi", "pods", "110", "ephemeral-storage", "10Gi").Obj(),
	}
	existing := []*v1.Pod{st.MakePod().Name("e").Node("small").Req("cpu", "1", "memory", "1Gi").Obj()}
	rejected := func(reasons ...string) *framework.Status {
		return framework.NewStatus(framework.Unschedulable, reasons...).WithPlugin(Name)
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"fits both", st.MakePod().Name("p").Req("cpu", "1", "memory", "1Gi").Obj(), nil},
		{"too much cpu for the small node", st.MakePod().Name("p").Req("cpu", "1500m").Obj(), map[string]*framework.Status{"small": rejected("Insufficient cpu")}},
		{"every missing resource is a reason", st.MakePod().Name("p").Req("cpu", "4", "memory", "8Gi").Obj(), map[string]*framework.Status{"small": rejected("Insufficient cpu", "Insufficient memory")}},
		{"extended resource", st.MakePod().Name("p").Req("example.com/gpu", "1").Obj(), map[string]*framework.Status{"big": rejected("Insufficient example.com/gpu")}},
		{"ephemeral storage", st.MakePod().Name("p").Req("ephemeral-storage", "1Gi").Obj(), map[string]*framework.Status{"small": rejected("Insufficient ephemeral-storage")}},
		{"init container needs more", st.MakePod().Name("p").Req("cpu", "100m").InitContainer(false, "cpu", "1500m").Obj(), map[string]*framework.Status{"small": rejected("Insufficient cpu")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: existing}, framework.PluginSpec{New: New("")})
			got := frameworktest.Filter(t, f, snap, tc.pod)
			for _, n := range nodes {
				if !got[n.Name].Equal(tc.want[n.Name]) {
					t.Errorf("node %s: %v, want %v", n.Name, got[n.Name], tc.want[n.Name])
				}
			}
		})
	}
}

func TestTooManyPods(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode().Name("n").Alloc("cpu", "2", "pods", "1").Obj()}
	existing := []*v1.Pod{st.MakePod().Name("e").Node("n").Obj()}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: existing}, framework.PluginSpec{New: New("")})
	got := frameworktest.Filter(t, f, snap, st.MakePod().Name("p").Req("cpu", "4").Obj())
	want := framework.NewStatus(framework.Unschedulable, "Too many pods", "Insufficient cpu").WithPlugin(Name)
	if !got["n"].Equal(want) {
		t.Errorf("got %v, want %v", got["n"], want)
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("half").Alloc("cpu", "4", "memory", "8Gi").Obj(),
		st.MakeNode().Name("empty").Alloc("cpu", "8", "memory", "8Gi").Obj(),
	}
	existing := []*v1.Pod{st.MakePod().Name("e").Node("half").Req("cpu", "1", "memory", "2Gi").Obj()}
	pod := st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj()
	for _, tc := range []struct {
		strategy    string
		half, empty int64
	}{
		// half: cpu 2/4, memory 4/8 after placement; empty: cpu 1/8, memory 2/8.
		{LeastAllocated, 50, (87 + 75) / 2},
		{MostAllocated, 50, (12 + 25) / 2},
	} {
		f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: existing}, framework.PluginSpec{New: New(tc.strategy), Weight: 1})
		got := frameworktest.Score(t, f, snap, pod)
		if got["half"] != tc.half || got["empty"] != tc.empty {
			t.Errorf("%s: %v, want half %d empty %d", tc.strategy, got, tc.half, tc.empty)
		}
	}
	// A pod without requests counts 100m and 200Mi.
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes[1:]}, framework.PluginSpec{New: New(""), Weight: 1})
	got := frameworktest.Score(t, f, snap, st.MakePod().Name("q").Obj())
	// cpu (8000-100)*100/8000 = 98; memory (8192-200)*100/8192 = 97.
	if got["empty"] != (98+97)/2 {
		t.Errorf("best-effort score %d", got["empty"])
	}
	if _, err := New("Bogus")(nil); err == nil {
		t.Error("unknown strategy accepted")
	}
}
