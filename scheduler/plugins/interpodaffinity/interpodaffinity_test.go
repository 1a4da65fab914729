package interpodaffinity

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

const zone = v1.LabelTopologyZone

func nodes() []*v1.Node {
	return []*v1.Node{
		st.MakeNode().Name("n1").Label(zone, "a").Obj(),
		st.MakeNode().Name("n2").Label(zone, "a").Obj(),
		st.MakeNode().Name("n3").Label(zone, "b").Obj(),
		st.MakeNode().Name("n4").Obj(),
	}
}

func existing() []*v1.Pod {
	return []*v1.Pod{
		st.MakePod().Name("db").Node("n1").Label("app", "db").Obj(),
		st.MakePod().Name("loner").Node("n3").Label("app", "loner").PodAffinity(st.AntiAffinity, "app", "cache", v1.LabelHostname).Obj(),
	}
}

func TestFilter(t *testing.T) {
	affinity := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch).WithPlugin(Name)
	anti := framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch).WithPlugin(Name)
	existingAnti := framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch).WithPlugin(Name)
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"no affinity", st.MakePod().Name("p").Obj(), nil},
		{
			name: "affinity to the zone of a db pod",
			pod:  st.MakePod().Name("p").PodAffinity(st.Affinity, "app", "db", zone).Obj(),
			want: map[string]*framework.Status{"n3": affinity, "n4": affinity},
		},
		{
			name: "anti-affinity to a db pod's node",
			pod:  st.MakePod().Name("p").PodAffinity(st.AntiAffinity, "app", "db", v1.LabelHostname).Obj(),
			want: map[string]*framework.Status{"n1": anti},
		},
		{
			name: "anti-affinity by zone",
			pod:  st.MakePod().Name("p").PodAffinity(st.AntiAffinity, "app", "db", zone).Obj(),
			want: map[string]*framework.Status{"n1": anti, "n2": anti},
		},
		{
			name: "an existing pod's anti-affinity repels the pod",
			pod:  st.MakePod().Name("p").Label("app", "cache").Obj(),
			want: map[string]*framework.Status{"n3": existingAnti},
		},
		{
			name: "the first pod of a group with affinity to itself",
			pod:  st.MakePod().Name("p").Label("app", "new").PodAffinity(st.Affinity, "app", "new", zone).Obj(),
			want: map[string]*framework.Status{"n4": affinity},
		},
		{
			name: "affinity to pods of another namespace",
			pod: st.MakePod().Name("p").PodAffinityTerm(st.Affinity, v1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Namespaces:    []string{"other"}, TopologyKey: zone,
			}).Obj(),
			want: map[string]*framework.Status{"n1": affinity, "n2": affinity, "n3": affinity, "n4": affinity},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes(), Pods: existing()}, framework.PluginSpec{New: New})
			got := frameworktest.Filter(t, f, snap, tc.pod)
			for _, n := range nodes() {
				if !got[n.Name].Equal(tc.want[n.Name]) {
					t.Errorf("node %s: %v, want %v", n.Name, got[n.Name], tc.want[n.Name])
				}
			}
		})
	}
}

func TestNamespaceSelector(t *testing.T) {
	client := fake.NewClientset(
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"team": "blue"}}},
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"team": "red"}}},
	)
	factory := informers.NewSharedInformerFactory(client, 0)
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes(), Pods: existing(), Client: client, Informers: factory}, framework.PluginSpec{New: New})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	term := func(team string) v1.PodAffinityTerm {
		return v1.PodAffinityTerm{
			LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
			TopologyKey:       zone,
		}
	}
	pod := st.MakePod().Name("p").Namespace("other").PodAffinityTerm(st.Affinity, term("blue")).Obj()
	if got := frameworktest.Filter(t, f, snap, pod); !got["n1"].IsSuccess() || got["n3"].IsSuccess() {
		t.Errorf("blue namespaces: n1 %v n3 %v", got["n1"], got["n3"])
	}
	pod = st.MakePod().Name("p").Namespace("other").PodAffinityTerm(st.Affinity, term("red")).Obj()
	if got := frameworktest.Filter(t, f, snap, pod); got["n1"].IsSuccess() {
		t.Error("red namespaces: the db pod in default matched")
	}
}

func TestScore(t *testing.T) {
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes(), Pods: existing()}, framework.PluginSpec{New: New, Weight: 1})
	got := frameworktest.Score(t, f, snap, st.MakePod().Name("p").PreferredPodAffinity(st.Affinity, 10, "app", "db", zone).Obj())
	if got["n1"] != 100 || got["n2"] != 100 || got["n3"] != 0 || got["n4"] != 0 {
		t.Errorf("preferred affinity %v", got)
	}
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("p").PreferredPodAffinity(st.AntiAffinity, 10, "app", "db", zone).Obj())
	if got["n1"] != 0 || got["n2"] != 0 || got["n3"] != 100 || got["n4"] != 100 {
		t.Errorf("preferred anti-affinity %v", got)
	}
	// Existing pods' preferences count too: a pod placed with a preferred
	// anti-affinity to "cache" pods keeps them off its node.
	pods := append(existing(), st.MakePod().Name("shy").Node("n2").PreferredPodAffinity(st.AntiAffinity, 50, "app", "cache", v1.LabelHostname).Obj())
	f, snap = frameworktest.New(t, frameworktest.Options{Nodes: nodes(), Pods: pods}, framework.PluginSpec{New: New, Weight: 1})
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("p").Label("app", "cache").Obj())
	if got["n2"] != 0 || got["n1"] != 100 {
		t.Errorf("existing preferences %v", got)
	}
	// Nothing to score: all zero.
	got = frameworktest.Score(t, f, snap, st.MakePod().Name("q").Obj())
	for n, s := range got {
		if s != 0 {
			t.Errorf("unrelated pod scored %d on %s", s, n)
		}
	}
}
