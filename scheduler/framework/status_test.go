package framework

import (
	"errors"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestFitErrorMessage(t *testing.T) {
	pod := &v1.Pod{}
	statuses := func(m map[string]*Status) *NodeToStatus {
		n := NewDefaultNodeToStatus()
		for k, v := range m {
			n.Set(k, v)
		}
		return n
	}
	tests := []struct {
		name string
		err  FitError
		want string
	}{
		{
			name: "reasons counted and sorted, with preemption",
			err: FitError{Pod: pod, NumAllNodes: 3, Diagnosis: Diagnosis{
				NodeToStatus: statuses(map[string]*Status{
					"a": NewStatus(Unschedulable, "Insufficient cpu"),
					"b": NewStatus(Unschedulable, "Insufficient cpu", "Insufficient memory"),
					"c": NewStatus(UnschedulableAndUnresolvable, "node(s) had untolerated taint {dedicated: gpu}"),
				}),
				PostFilterMsg: "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
			}},
			want: "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
		},
		{
			name: "prefilter message replaces node reasons",
			err: FitError{Pod: pod, NumAllNodes: 2, Diagnosis: Diagnosis{
				NodeToStatus: statuses(map[string]*Status{"a": NewStatus(Unschedulable, "ignored")}),
				PreFilterMsg: "pod affinity terms conflict",
			}},
			want: "0/2 nodes are available: pod affinity terms conflict.",
		},
		{
			name: "absent nodes share a status",
			err: func() FitError {
				m := statuses(map[string]*Status{"a": NewStatus(Unschedulable, "Too many pods")})
				m.SetAbsentNodesStatus(NewStatus(UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [NodeAffinity]"))
				return FitError{Pod: pod, NumAllNodes: 4, Diagnosis: Diagnosis{NodeToStatus: m}}
			}(),
			want: "0/4 nodes are available: 1 Too many pods, 3 node(s) didn't satisfy plugin(s) [NodeAffinity].",
		},
		{
			name: "preemption policy Never",
			err: FitError{Pod: pod, NumAllNodes: 1, Diagnosis: Diagnosis{
				NodeToStatus:  statuses(map[string]*Status{"a": NewStatus(Unschedulable, "Insufficient cpu")}),
				PostFilterMsg: "preemption: not eligible due to preemptionPolicy=Never.",
			}},
			want: "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	var nilStatus *Status
	if !nilStatus.IsSuccess() || nilStatus.Code() != Success || nilStatus.Message() != "" || nilStatus.AsError() != nil {
		t.Error("nil status is not a success")
	}
	s := NewStatus(Unschedulable, "a", "b").WithPlugin("P")
	if !s.IsRejected() || s.Message() != "a, b" || s.Plugin() != "P" || s.AsError().Error() != "a, b" {
		t.Errorf("status %v", s)
	}
	e := NewStatus(Unschedulable).WithError(errors.New("boom"))
	if e.Message() != "boom" || len(e.Reasons()) != 1 {
		t.Errorf("status with error: %v", e)
	}
	if AsStatus(nil) != nil || AsStatus(errors.New("x")).Code() != Error {
		t.Error("AsStatus")
	}
	if NewStatus(UnschedulableAndUnresolvable).IsRejected() != true || NewStatus(Error).IsRejected() || !NewStatus(Skip).IsSkip() {
		t.Error("codes")
	}
}

func TestNodesForStatusCode(t *testing.T) {
	nodes := []*NodeInfo{NewNodeInfo(node("a")), NewNodeInfo(node("b")), NewNodeInfo(node("c"))}
	m := NewDefaultNodeToStatus()
	m.Set("a", NewStatus(Unschedulable))
	m.Set("b", NewStatus(UnschedulableAndUnresolvable))
	got := m.NodesForStatusCode(nodes, Unschedulable)
	if len(got) != 1 || got[0].Node().Name != "a" {
		t.Errorf("got %d nodes", len(got))
	}
	m.SetAbsentNodesStatus(NewStatus(Unschedulable))
	if got := m.NodesForStatusCode(nodes, Unschedulable); len(got) != 2 {
		t.Errorf("with absent unschedulable: %d nodes, want a and c", len(got))
	}
}

func node(name string) *v1.Node {
	n := &v1.Node{}
	n.Name = name
	return n
}
