package framework

import (
	"context"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"

	st "berth/scheduler/schedtest"
)

func TestNodeInfoAddRemove(t *testing.T) {
	n := st.MakeNode().Name("n").Alloc("cpu", "4", "memory", "8Gi", "pods", "10").Obj()
	a := st.MakePod().Name("a").Node("n").Req("cpu", "1", "memory", "1Gi").HostPort(80, v1.ProtocolTCP, "").Obj()
	b := st.MakePod().Name("b").Node("n").PodAffinity(st.AntiAffinity, "app", "x", v1.LabelHostname).Obj()
	ni := NewNodeInfo(n, a, b)
	if ni.Allocatable.MilliCPU != 4000 || ni.Allocatable.AllowedPodNumber != 10 {
		t.Fatalf("allocatable %+v", ni.Allocatable)
	}
	if ni.Requested.MilliCPU != 1000 || ni.NonZeroRequested.MilliCPU != 1000+DefaultMilliCPURequest {
		t.Errorf("requested %d non-zero %d", ni.Requested.MilliCPU, ni.NonZeroRequested.MilliCPU)
	}
	if len(ni.PodsWithAffinity) != 1 || len(ni.PodsWithRequiredAntiAffinity) != 1 {
		t.Errorf("affinity lists %d %d", len(ni.PodsWithAffinity), len(ni.PodsWithRequiredAntiAffinity))
	}
	if !ni.UsedPorts.CheckConflict("", "TCP", 80) {
		t.Error("port 80 not in use")
	}
	snap := ni.Snapshot()
	if err := ni.RemovePod(a); err != nil {
		t.Fatal(err)
	}
	if ni.Requested.MilliCPU != 0 || len(ni.Pods) != 1 || ni.UsedPorts.CheckConflict("", "TCP", 80) {
		t.Errorf("after removal: cpu %d pods %d", ni.Requested.MilliCPU, len(ni.Pods))
	}
	if snap.Requested.MilliCPU != 1000 || len(snap.Pods) != 2 || !snap.UsedPorts.CheckConflict("", "TCP", 80) {
		t.Error("the snapshot changed with the original")
	}
	if err := ni.RemovePod(a); err == nil {
		t.Error("removing a pod twice succeeded")
	}
}

func TestHostPortConflicts(t *testing.T) {
	h := HostPortInfo{}
	h.Add("127.0.0.1", "TCP", 8080)
	h.Add("", "UDP", 53)
	tests := []struct {
		ip, proto string
		port      int32
		want      bool
	}{
		{"127.0.0.1", "TCP", 8080, true},
		{"10.0.0.1", "TCP", 8080, false},
		{"0.0.0.0", "TCP", 8080, true}, // all addresses include 127.0.0.1
		{"", "", 8080, true},           // defaults: 0.0.0.0, TCP
		{"10.0.0.1", "UDP", 53, true},  // 0.0.0.0 covers every address
		{"10.0.0.1", "TCP", 53, false},
		{"", "TCP", 0, false},
	}
	for _, tc := range tests {
		if got := h.CheckConflict(tc.ip, tc.proto, tc.port); got != tc.want {
			t.Errorf("CheckConflict(%q, %q, %d) = %v", tc.ip, tc.proto, tc.port, got)
		}
	}
	h.Remove("127.0.0.1", "TCP", 8080)
	if h.CheckConflict("", "TCP", 8080) {
		t.Error("removed port still in use")
	}
}

func TestNodeSelectors(t *testing.T) {
	n := st.MakeNode().Name("node-1").Label("zone", "a").Label("gen", "5").Obj()
	tests := []struct {
		name string
		pod  *v1.Pod
		want bool
	}{
		{"no requirement", st.MakePod().Obj(), true},
		{"node selector matches", st.MakePod().NodeSelector("zone", "a").Obj(), true},
		{"node selector does not", st.MakePod().NodeSelector("zone", "b").Obj(), false},
		{"terms are ORed", st.MakePod().NodeAffinityIn("zone", "b").NodeAffinityIn("zone", "a").Obj(), true},
		{"selector and affinity both apply", st.MakePod().NodeSelector("zone", "a").NodeAffinityIn("zone", "b").Obj(), false},
		{"gt", func() *v1.Pod {
			p := st.MakePod().Obj()
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "gen", Operator: v1.NodeSelectorOpGt, Values: []string{"4"}}}}},
			}}}
			return p
		}(), true},
		{"match fields on the name", func() *v1.Pod {
			p := st.MakePod().Obj()
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"node-2"}}}}},
			}}}
			return p
		}(), false},
		{"an empty term selects nothing", func() *v1.Pod {
			p := st.MakePod().Obj()
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{}},
			}}}
			return p
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GetRequiredNodeAffinity(tc.pod).Match(n); got != tc.want {
				t.Errorf("Match = %v", got)
			}
		})
	}
	pref := NewPreferredSchedulingTerms(st.MakePod().PreferredNodeAffinityIn(5, "zone", "a").PreferredNodeAffinityIn(3, "gen", "5").PreferredNodeAffinityIn(7, "zone", "b").Obj().Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if got := pref.Score(n); got != 8 {
		t.Errorf("preferred score %d, want 8", got)
	}
}

func TestParallelizer(t *testing.T) {
	for _, workers := range []int{1, 2, 16} {
		var sum atomic.Int64
		seen := make([]atomic.Int32, 1000)
		Parallelizer{Workers: workers}.Until(context.Background(), 1000, func(i int) {
			seen[i].Add(1)
			sum.Add(int64(i))
		})
		if sum.Load() != 999*1000/2 {
			t.Errorf("workers %d: sum %d", workers, sum.Load())
		}
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("workers %d: piece %d ran %d times", workers, i, seen[i].Load())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	Parallelizer{Workers: 2}.Until(ctx, 10000, func(i int) {
		if ran.Add(1) == 10 {
			cancel()
		}
	})
	if ran.Load() >= 10000 {
		t.Error("cancellation did not stop the work")
	}
}

func TestDefaultNormalizeScore(t *testing.T) {
	scores := NodeScoreList{{Score: 10}, {Score: 5}, {Score: 0}}
	DefaultNormalizeScore(100, false, scores)
	if scores[0].Score != 100 || scores[1].Score != 50 || scores[2].Score != 0 {
		t.Errorf("normalized %v", scores)
	}
	scores = NodeScoreList{{Score: 2}, {Score: 0}}
	DefaultNormalizeScore(100, true, scores)
	if scores[0].Score != 0 || scores[1].Score != 100 {
		t.Errorf("reversed %v", scores)
	}
	scores = NodeScoreList{{Score: 0}, {Score: 0}}
	DefaultNormalizeScore(100, true, scores)
	if scores[0].Score != 100 {
		t.Errorf("all zero reversed %v", scores)
	}
}

func TestSnapshot(t *testing.T) {
	a := st.MakeNode().Name("a").Obj()
	b := st.MakeNode().Name("b").Obj()
	withAA := st.MakePod().Name("p").Node("b").PodAffinity(st.AntiAffinity, "x", "y", v1.LabelHostname).Obj()
	s := NewSnapshot([]*v1.Pod{withAA}, []*v1.Node{a, b})
	if s.NumNodes() != 2 || len(s.HavePodsWithAffinityList()) != 1 || len(s.HavePodsWithRequiredAntiAffinityList()) != 1 {
		t.Fatalf("snapshot: %d nodes, %d with affinity", s.NumNodes(), len(s.HavePodsWithAffinityList()))
	}
	s.Set(NewNodeInfo(b))
	s.Commit()
	if len(s.HavePodsWithAffinityList()) != 0 {
		t.Error("affinity list not refreshed")
	}
	if ni, _ := s.Get("b"); len(ni.Pods) != 0 || s.List()[1] != ni {
		t.Error("list entry not replaced")
	}
	if _, err := s.Get("c"); err == nil {
		t.Error("unknown node found")
	}
}
