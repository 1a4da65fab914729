package nodeports

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode().Name("a").Obj(), st.MakeNode().Name("b").Obj()}
	existing := []*v1.Pod{
		st.MakePod().Name("web").Node("a").HostPort(80, v1.ProtocolTCP, "").Obj(),
		st.MakePod().Name("dns").Node("b").HostPort(53, v1.ProtocolUDP, "10.0.0.1").Obj(),
	}
	taken := framework.NewStatus(framework.Unschedulable, ErrReason).WithPlugin(Name)
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"no host ports", st.MakePod().Name("p").Obj(), nil},
		{"port taken on all addresses", st.MakePod().Name("p").HostPort(80, v1.ProtocolTCP, "").Obj(), map[string]*framework.Status{"a": taken}},
		{"other protocol", st.MakePod().Name("p").HostPort(80, v1.ProtocolUDP, "").Obj(), nil},
		{"another address", st.MakePod().Name("p").HostPort(53, v1.ProtocolUDP, "10.0.0.2").Obj(), nil},
		{"all addresses include the taken one", st.MakePod().Name("p").HostPort(53, v1.ProtocolUDP, "").Obj(), map[string]*framework.Status{"b": taken}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: existing}, framework.PluginSpec{New: New})
			got := frameworktest.Filter(t, f, snap, tc.pod)
			for _, n := range nodes {
				if !got[n.Name].Equal(tc.want[n.Name]) {
					t.Errorf("node %s: %v, want %v", n.Name, got[n.Name], tc.want[n.Name])
				}
			}
		})
	}
}
