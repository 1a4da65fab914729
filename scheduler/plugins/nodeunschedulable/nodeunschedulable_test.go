package nodeunschedulable

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode().Name("open").Obj(), st.MakeNode().Name("cordoned").Unschedulable().Obj()}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"cordoned node rejected", st.MakePod().Name("p").Obj(), map[string]*framework.Status{
			"cordoned": framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable).WithPlugin(Name),
		}},
		{"the unschedulable toleration", st.MakePod().Name("p").Toleration(v1.TaintNodeUnschedulable, "", v1.TolerationOpExists, v1.TaintEffectNoSchedule).Obj(), nil},
		{"tolerate everything", st.MakePod().Name("p").Toleration("", "", v1.TolerationOpExists, "").Obj(), nil},
		{"another toleration does not help", st.MakePod().Name("p").Toleration("other", "", v1.TolerationOpExists, "").Obj(), map[string]*framework.Status{
			"cordoned": framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable).WithPlugin(Name),
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
