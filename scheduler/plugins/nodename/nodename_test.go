package nodename

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode().Name("a").Obj(), st.MakeNode().Name("b").Obj()}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes}, framework.PluginSpec{New: New})
	got := frameworktest.Filter(t, f, snap, st.MakePod().Name("p").Obj())
	if !got["a"].IsSuccess() || !got["b"].IsSuccess() {
		t.Error("a pod without a node name was rejected")
	}
	got = frameworktest.Filter(t, f, snap, st.MakePod().Name("p").Node("b").Obj())
	want := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason).WithPlugin(Name)
	if !got["a"].Equal(want) || !got["b"].IsSuccess() {
		t.Errorf("a: %v, b: %v", got["a"], got["b"])
	}
}
