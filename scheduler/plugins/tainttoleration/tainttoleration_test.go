package tainttoleration

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("plain").Obj(),
		st.MakeNode().Name("gpu").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
		st.MakeNode().Name("evict").Taint("maintenance", "", v1.TaintEffectNoExecute).Obj(),
		st.MakeNode().Name("soft").Taint("slow", "yes", v1.TaintEffectPreferNoSchedule).Obj(),
	}
	rejected := func(reason string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reason).WithPlugin(Name)
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"no tolerations", st.MakePod().Name("p").Obj(), map[string]*framework.Status{
			"gpu":   rejected("node(s) had untolerated taint {dedicated: gpu}"),
			"evict": rejected("node(s) had untolerated taint {maintenance: }"),
		}},
		{"equal toleration", st.MakePod().Name("p").Toleration("dedicated", "gpu", v1.TolerationOpEqual, v1.TaintEffectNoSchedule).Obj(), map[string]*framework.Status{
			"evict": rejected("node(s) had untolerated taint {maintenance: }"),
		}},
		{"wrong value", st.MakePod().Name("p").Toleration("dedicated", "cpu", v1.TolerationOpEqual, "").Obj(), map[string]*framework.Status{
			"gpu":   rejected("node(s) had untolerated taint {dedicated: gpu}"),
			"evict": rejected("node(s) had untolerated taint {maintenance: }"),
		}},
		{"exists on every key", st.MakePod().Name("p").Toleration("", "", v1.TolerationOpExists, "").Obj(), nil},
		{"wrong effect", st.MakePod().Name("p").Toleration("maintenance", "", v1.TolerationOpExists, v1.TaintEffectNoSchedule).Toleration("dedicated", "", v1.TolerationOpExists, "").Obj(), map[string]*framework.Status{
			"evict": rejected("node(s) had untolerated taint {maintenance: }"),
		}},
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

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode().Name("none").Obj(),
		st.MakeNode().Name("one").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Obj(),
		st.MakeNode().Name("two").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Taint("b", "1", v1.TaintEffectPreferNoSchedule).Obj(),
	}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes}, framework.PluginSpec{New: New, Weight: 1})
	got := frameworktest.Score(t, f, snap, st.MakePod().Name("p").Obj())
	if got["none"] != 100 || got["one"] != 50 || got["two"] != 0 {
		t.Errorf("scores %v, want none 100 one 50 two 0", got)
	}
	// Tolerating "a" leaves one taint on "two".
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("p").Toleration("a", "", v1.TolerationOpExists, v1.TaintEffectPreferNoSchedule).Obj())
	if got["none"] != 100 || got["one"] != 100 || got["two"] != 0 {
		t.Errorf("scores with a toleration %v", got)
	}
}
