package nodeaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("a").Label("zone", "a").Label("disk", "ssd").Obj(),
		st.MakeNode().Name("b").Label("zone", "b").Obj(),
	}
	rejected := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod).WithPlugin(Name)
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"nothing required", st.MakePod().Name("p").Obj(), nil},
		{"node selector", st.MakePod().Name("p").NodeSelector("disk", "ssd").Obj(), map[string]*framework.Status{"b": rejected}},
		{"required affinity", st.MakePod().Name("p").NodeAffinityIn("zone", "b").Obj(), map[string]*framework.Status{"a": rejected}},
		{"both must hold", st.MakePod().Name("p").NodeSelector("disk", "ssd").NodeAffinityIn("zone", "b").Obj(), map[string]*framework.Status{"a": rejected, "b": rejected}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes}, framework.PluginSpec{New: New})
			got := frameworktest.Filter(t, f, snap, tc.pod)
			for _, n := range nodes {
				if !got[n.Name].Equal(tc.want[n.Name]) {
					t.Errorf("node %s: %v, want %v", n.Name, got[n.Name], tc.want[n.Name])
				}
			}
		})
	}
}

func nameAffinity(names ...[]string) *v1.Pod {
	p := st.MakePod().Name("p").Obj()
	ns := &v1.NodeSelector{}
	for _, n := range names {
		ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, v1.NodeSelectorTerm{
			MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: n}},
		})
	}
	p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ns}}
	return p
}

func TestPreFilter(t *testing.T) {
	ctx := context.Background()
	pl := NodeAffinity{}
	if _, s := pl.PreFilter(ctx, framework.NewCycleState(), st.MakePod().Obj()); !s.IsSkip() {
		t.Errorf("no affinity: %v, want Skip", s)
	}
	r, s := pl.PreFilter(ctx, framework.NewCycleState(), nameAffinity([]string{"a", "b"}, []string{"c"}))
	if !s.IsSuccess() || r.AllNodes() || r.NodeNames.Len() != 3 {
		t.Errorf("names: %v %v", r, s)
	}
	// A single term's requirements intersect; nothing left conflicts.
	p := nameAffinity([]string{"a"})
	p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields = append(
		p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields,
		v1.NodeSelectorRequirement{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"b"}})
	if _, s := pl.PreFilter(ctx, framework.NewCycleState(), p); s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != "pod affinity terms conflict" {
		t.Errorf("conflict: %v", s)
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("a").Label("zone", "a").Label("disk", "ssd").Obj(),
		st.MakeNode().Name("b").Label("zone", "b").Obj(),
		st.MakeNode().Name("c").Obj(),
	}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes}, framework.PluginSpec{New: New, Weight: 1})
	pod := st.MakePod().Name("p").PreferredNodeAffinityIn(10, "zone", "a").PreferredNodeAffinityIn(30, "zone", "b").PreferredNodeAffinityIn(10, "disk", "ssd").Obj()
	got := frameworktest.Score(t, f, snap, pod)
	// a: 20, b: 30, c: 0 → normalized by the highest.
	if got["a"] != 66 || got["b"] != 100 || got["c"] != 0 {
		t.Errorf("scores %v", got)
	}
}
