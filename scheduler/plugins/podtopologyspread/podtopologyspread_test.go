package podtopologyspread

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func zoneNodes() []*v1.Node {
	return []*v1.Node{
		st.MakeNode().Name("a1").Label(v1.LabelTopologyZone, "a").Obj(),
		st.MakeNode().Name("a2").Label(v1.LabelTopologyZone, "a").Obj(),
		st.MakeNode().Name("b1").Label(v1.LabelTopologyZone, "b").Obj(),
		st.MakeNode().Name("nolabel").Obj(),
	}
}

func webPods() []*v1.Pod {
	return []*v1.Pod{
		st.MakePod().Name("w1").Node("a1").Label("app", "web").Obj(),
		st.MakePod().Name("w2").Node("a1").Label("app", "web").Obj(),
		st.MakePod().Name("w3").Node("b1").Label("app", "web").Obj(),
		st.MakePod().Name("other-ns").Namespace("other").Node("b1").Label("app", "web").Obj(),
		st.MakePod().Name("terminating").Node("b1").Label("app", "web").Terminating().Obj(),
	}
}

func ptr[T any](v T) *T { return &v }

func TestFilter(t *testing.T) {
	skew := framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch).WithPlugin(Name)
	missing := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch).WithPlugin(Name)
	web := func() *st.PodWrapper { return st.MakePod().Name("p").Label("app", "web") }
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{
			// zone a has 2 matching pods, zone b 1 (other namespaces and
			// terminating pods do not count): only zone b stays within 1.
			name: "zone skew",
			pod:  web().SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web", nil).Obj(),
			want: map[string]*framework.Status{"a1": skew, "a2": skew, "nolabel": missing},
		},
		{
			name: "a pod that does not match its own selector adds nothing",
			pod:  st.MakePod().Name("p").SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web", nil).Obj(),
			want: map[string]*framework.Status{"nolabel": missing},
		},
		{
			name: "fewer domains than minDomains: the minimum is 0",
			pod:  web().SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web", ptr(int32(3))).Obj(),
			want: map[string]*framework.Status{"a1": skew, "a2": skew, "b1": skew, "nolabel": missing},
		},
		{
			name: "hostname skew",
			pod:  web().SpreadConstraint(1, v1.LabelHostname, v1.DoNotSchedule, "app", "web", nil).Obj(),
			want: map[string]*framework.Status{"a1": skew, "b1": skew},
		},
		{
			// Nodes the pod's node affinity excludes do not count (Honor):
			// zone b is left out, zone a (2 pods) is the minimum itself.
			name: "node affinity policy",
			pod:  web().NodeAffinityIn(v1.LabelTopologyZone, "a").SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web", nil).Obj(),
			want: map[string]*framework.Status{"nolabel": missing},
		},
		{
			name: "ScheduleAnyway does not filter",
			pod:  web().SpreadConstraint(1, v1.LabelTopologyZone, v1.ScheduleAnyway, "app", "web", nil).Obj(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, snap := frameworktest.New(t, frameworktest.Options{Nodes: zoneNodes(), Pods: webPods()}, framework.PluginSpec{New: New})
			got := frameworktest.Filter(t, f, snap, tc.pod)
			for _, n := range zoneNodes() {
				if !got[n.Name].Equal(tc.want[n.Name]) {
					t.Errorf("node %s: %v, want %v", n.Name, got[n.Name], tc.want[n.Name])
				}
			}
		})
	}
}

func TestFilterNodeAffinityPolicyIgnore(t *testing.T) {
	// Counting zone a too (Ignore), zone a has 2, zone b 1: a is skewed.
	pod := st.MakePod().Name("p").Label("app", "web").NodeAffinityIn(v1.LabelTopologyZone, "a").
		SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web", nil).Obj()
	ignore := v1.NodeInclusionPolicyIgnore
	pod.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = &ignore
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: zoneNodes(), Pods: webPods()}, framework.PluginSpec{New: New})
	if got := frameworktest.Filter(t, f, snap, pod); got["a1"].IsSuccess() || !got["b1"].IsSuccess() {
		t.Errorf("a1 %v b1 %v", got["a1"], got["b1"])
	}
}

func TestScore(t *testing.T) {
	pod := st.MakePod().Name("p").Label("app", "web").SpreadConstraint(1, v1.LabelHostname, v1.ScheduleAnyway, "app", "web", nil).Obj()
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: zoneNodes(), Pods: webPods()}, framework.PluginSpec{New: New, Weight: 1})
	got := frameworktest.Score(t, f, snap, pod)
	// a1 has 2 matching pods, b1 1, a2 and nolabel none.
	if !(got["a2"] == 100 && got["nolabel"] == 100 && got["b1"] < 100 && got["a1"] < got["b1"]) {
		t.Errorf("scores %v", got)
	}
	// With a zone constraint the node without a zone is not scored.
	pod = st.MakePod().Name("p").Label("app", "web").SpreadConstraint(1, v1.LabelTopologyZone, v1.ScheduleAnyway, "app", "web", nil).Obj()
	got = frameworktest.Score(t, f, snap, pod)
	if got["nolabel"] != 0 || got["b1"] != 100 || got["a1"] >= got["b1"] || got["a1"] != got["a2"] {
		t.Errorf("zone scores %v", got)
	}
}

func TestSystemDefaultConstraints(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	client := fake.NewClientset(rs)
	factory := informers.NewSharedInformerFactory(client, 0)
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: zoneNodes(), Pods: webPods(), Client: client, Informers: factory}, framework.PluginSpec{New: New, Weight: 1})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	owned := st.MakePod().Name("p").Label("app", "web").OwnerReference("apps/v1", "ReplicaSet", "web").Obj()
	got := frameworktest.Score(t, f, snap, owned)
	// hostname (maxSkew 3, weight ln 6) and zone (maxSkew 5, weight ln 5:
	// zones a, b and none): a1 2·1.79+2 + 2·1.61+4 = 13, a2 2 + 7.2 = 9,
	// b1 1.79+2 + 1.61+4 = 9, nolabel 2 (no zone); normalized
	// 100·(13+2−s)/13.
	if got["a1"] != 15 || got["a2"] != 46 || got["b1"] != 46 || got["nolabel"] != 100 {
		t.Errorf("owned pod scores %v", got)
	}
	// A pod without a Service or controller gets no default constraints.
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("q").Label("app", "web").Obj())
	for n, s := range got {
		if s != 0 {
			t.Errorf("unowned pod scored %d on %s", s, n)
		}
	}
}
