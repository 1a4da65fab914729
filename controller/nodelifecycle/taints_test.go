package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSyncNodeNoScheduleTaintsAndLabels(t *testing.T) {
	cond := func(ct corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: ct, Status: s}
	}
	userTaint := corev1.Taint{Key: "example.com/dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name          string
		unschedulable bool
		conds         []corev1.NodeCondition
		taints        []corev1.Taint
		labels        map[string]string
		wantTaints    []string
		wantLabels    map[string]string
	}{
		{name: "ready", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue)}},
		{name: "unschedulable", unschedulable: true,
			wantTaints: []string{"node.kubernetes.io/unschedulable:NoSchedule"}},
		{name: "schedulable again keeps user taints", taints: []corev1.Taint{userTaint, {Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}},
			wantTaints: []string{"example.com/dedicated:NoSchedule"}},
		{name: "not ready", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse)},
			wantTaints: []string{"node.kubernetes.io/not-ready:NoSchedule"}},
		{name: "unknown", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionUnknown)},
			wantTaints: []string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "pressure", conds: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue), cond(corev1.NodeMemoryPressure, corev1.ConditionTrue),
			cond(corev1.NodeDiskPressure, corev1.ConditionTrue), cond(corev1.NodePIDPressure, corev1.ConditionTrue),
			cond(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)},
			wantTaints: []string{"node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/disk-pressure:NoSchedule",
				"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/network-unavailable:NoSchedule"}},
		{name: "recovered keeps NoExecute", conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue)},
			taints:     []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}, unreachableTaint},
			wantTaints: []string{"node.kubernetes.io/unreachable:NoExecute"}},
		{name: "beta labels", labels: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "beta.kubernetes.io/arch": "arm64"},
			wantLabels: map[string]string{"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: tc.labels},
				Spec:       corev1.NodeSpec{Unschedulable: tc.unschedulable, Taints: tc.taints},
				Status:     corev1.NodeStatus{Conditions: tc.conds},
			}
			f := newFixture(t, node)
			f.now = t0.Add(time.Hour)
			if err := f.c.syncNode(context.Background(), "n"); err != nil {
				t.Fatal(err)
			}
			got := f.node("n")
			keys := taintKeys(got.Spec.Taints)
			slices.Sort(keys)
			want := slices.Clone(tc.wantTaints)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Errorf("taints = %v; want %v", keys, want)
			}
			for _, tt := range got.Spec.Taints {
				if !hasTaint(tc.taints, tt) && (tt.TimeAdded == nil || !tt.TimeAdded.Time.Equal(f.now)) {
					t.Errorf("added taint %s has timeAdded %v; want %v", tt.Key, tt.TimeAdded, f.now)
				}
			}
			for k, v := range tc.wantLabels {
				if got.Labels[k] != v {
					t.Errorf("label %s = %q; want %q", k, got.Labels[k], v)
				}
			}
		})
	}
}

func TestNodeThatNeverPostedStatus(t *testing.T) {
	a := readyNode("a", t0, nil)
	b := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: metav1.NewTime(t0)}}
	f := newFixture(t, a, nodeLease("a", t0), b)
	f.pass(0)
	f.now = f.now.Add(50 * time.Second)
	f.heartbeat("a")
	f.pass(0)
	if len(f.node("b").Status.Conditions) != 0 {
		t.Fatalf("b conditions set within the startup grace period: %+v", f.node("b").Status.Conditions)
	}
	f.now = f.now.Add(11 * time.Second)
	f.heartbeat("a")
	f.pass(0)
	got := f.node("b")
	for _, ct := range unknownConditions {
		c := nodeCondition(&got.Status, ct)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusNeverUpdated" || c.Message != "Kubelet never posted node status." {
			t.Errorf("b condition %s = %+v; want Unknown/NodeStatusNeverUpdated", ct, c)
		}
	}
}

func TestTainterRateAndQueue(t *testing.T) {
	tn := newTainter(0.1, t0)
	if !tn.add("a", t0) || tn.add("a", t0) {
		t.Fatal("add must queue a node once")
	}
	tn.add("b", t0)
	name, ok := tn.next(t0)
	if !ok || name != "a" {
		t.Fatalf("next = %q, %v; want a", name, ok)
	}
	tn.done("a", true, 0, t0)
	if _, ok := tn.next(t0.Add(time.Second)); ok {
		t.Error("a second node within 10s at 0.1/s")
	}
	if name, ok := tn.next(t0.Add(11 * time.Second)); !ok || name != "b" {
		t.Errorf("next after 11s = %q, %v; want b", name, ok)
	}
	if tn.add("a", t0) {
		t.Error("a tainted node stays in the set until removed")
	}
	if !tn.remove("a") || tn.remove("a") {
		t.Error("remove must report whether the node was there")
	}
	tn.bucket.swap(0, t0.Add(time.Hour))
	if _, ok := tn.next(t0.Add(2 * time.Hour)); ok {
		t.Error("a zero rate taints nothing")
	}
}

func TestComputeZoneState(t *testing.T) {
	r := &corev1.NodeCondition{Status: corev1.ConditionTrue}
	u := &corev1.NodeCondition{Status: corev1.ConditionUnknown}
	cases := []struct {
		conds []*corev1.NodeCondition
		want  zoneState
	}{
		{[]*corev1.NodeCondition{r, r}, stateNormal},
		{[]*corev1.NodeCondition{u}, stateFullDisruption},
		{[]*corev1.NodeCondition{nil, u}, stateFullDisruption},
		{[]*corev1.NodeCondition{r, u, u}, stateNormal},
		{[]*corev1.NodeCondition{r, u, u, u}, statePartialDisruption},
		{[]*corev1.NodeCondition{r, r, r, u, u, u}, stateNormal},
	}
	for i, tc := range cases {
		if _, got := computeZoneState(tc.conds, 0.55); got != tc.want {
			t.Errorf("case %d: state = %s; want %s", i, got, tc.want)
		}
	}
}
