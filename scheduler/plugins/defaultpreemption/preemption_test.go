package defaultpreemption

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	"berth/scheduler/plugins/noderesources"
	"berth/scheduler/plugins/tainttoleration"
	st "berth/scheduler/schedtest"
)

type env struct {
	f      *framework.Framework
	snap   *framework.Snapshot
	client *fake.Clientset
}

func newEnv(t *testing.T, nodes []*v1.Node, pods []*v1.Pod, pdbs ...*policy.PodDisruptionBudget) *env {
	t.Helper()
	var objs []runtime.Object
	for _, p := range pods {
		objs = append(objs, p)
	}
	for _, p := range pdbs {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	var bound []*v1.Pod
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			bound = append(bound, p)
		}
	}
	f, snap := frameworktest.New(t, frameworktest.Options{Nodes: nodes, Pods: bound, Client: client, Informers: factory},
		framework.PluginSpec{New: tainttoleration.New},
		framework.PluginSpec{New: noderesources.New("")},
		framework.PluginSpec{New: New},
	)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	return &env{f: f, snap: snap, client: client}
}

// postFilter filters the pod on every node, then runs preemption.
func (e *env) postFilter(t *testing.T, pod *v1.Pod) (*framework.PostFilterResult, *framework.Status) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	state.PodInfo = framework.NewPodInfo(pod)
	if _, s, _ := e.f.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	m := framework.NewDefaultNodeToStatus()
	for _, ni := range e.snap.List() {
		s := e.f.RunFilterPlugins(ctx, state, pod, ni)
		if s.IsSuccess() {
			t.Fatalf("pod fits node %s: nothing to preempt", ni.Node().Name)
		}
		m.Set(ni.Node().Name, s)
	}
	return e.f.RunPostFilterPlugins(ctx, state, pod, m)
}

func (e *env) deleted() []string {
	var out []string
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(clienttesting.DeleteAction).GetName())
		}
	}
	return out
}

func node(name, cpu string) *v1.Node {
	return st.MakeNode().Name(name).Alloc("cpu", cpu, "memory", "16Gi").Obj()
}

func TestPreemptsTheFewestLeastImportantPods(t *testing.T) {
	pods := []*v1.Pod{
		st.MakePod().Name("low1").Node("n1").Priority(1).Req("cpu", "1").Obj(),
		st.MakePod().Name("low2").Node("n1").Priority(2).Req("cpu", "500m").Obj(),
		st.MakePod().Name("preemptor").Priority(10).Req("cpu", "1").Obj(),
	}
	e := newEnv(t, []*v1.Node{node("n1", "2")}, pods)
	r, s := e.postFilter(t, pods[2])
	if !s.IsSuccess() || r == nil || r.NominatedNodeName != "n1" || r.Mode() != framework.ModeOverride {
		t.Fatalf("result %+v status %v", r, s)
	}
	// Removing low1 (1 cpu) is enough; low2 is reprieved.
	if got := e.deleted(); len(got) != 1 || got[0] != "low1" {
		t.Fatalf("deleted %v, want [low1]", got)
	}
	victim, err := e.client.CoreV1().Pods("default").Get(context.Background(), "low1", metav1.GetOptions{})
	if err == nil {
		t.Fatalf("victim still there: %+v", victim.Status.Conditions)
	}
	var patched bool
	for _, a := range e.client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && p.GetName() == "low1" && p.GetSubresource() == "status" {
			body := string(p.GetPatch())
			patched = strings.Contains(body, `"type":"DisruptionTarget"`) && strings.Contains(body, `"reason":"PreemptionByScheduler"`) &&
				strings.Contains(body, "default-scheduler: preempting to accommodate a higher priority pod")
		}
	}
	if !patched {
		t.Error("no DisruptionTarget condition patched on the victim")
	}
}

func TestPreemptionMessages(t *testing.T) {
	never := v1.PreemptNever
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		pod   *v1.Pod
		want  string
	}{
		{
			name:  "no lower-priority pods",
			nodes: []*v1.Node{node("n1", "1"), node("n2", "1")},
			pods: []*v1.Pod{
				st.MakePod().Name("a").Node("n1").Priority(10).Req("cpu", "1").Obj(),
				st.MakePod().Name("b").Node("n2").Priority(20).Req("cpu", "1").Obj(),
			},
			pod:  st.MakePod().Name("p").Priority(10).Req("cpu", "1").Obj(),
			want: "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
		},
		{
			name:  "evicting everything is not enough",
			nodes: []*v1.Node{node("n1", "1")},
			pods:  []*v1.Pod{st.MakePod().Name("a").Node("n1").Priority(1).Req("cpu", "500m").Obj()},
			pod:   st.MakePod().Name("p").Priority(10).Req("cpu", "2").Obj(),
			want:  "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:  "preemptionPolicy Never",
			nodes: []*v1.Node{node("n1", "1")},
			pods:  []*v1.Pod{st.MakePod().Name("a").Node("n1").Priority(1).Req("cpu", "1").Obj()},
			pod: func() *v1.Pod {
				p := st.MakePod().Name("p").Priority(10).Req("cpu", "1").Obj()
				p.Spec.PreemptionPolicy = &never
				return p
			}(),
			want: "preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name:  "a taint cannot be preempted",
			nodes: []*v1.Node{st.MakeNode().Name("n1").Alloc("cpu", "1").Taint("k", "v", v1.TaintEffectNoSchedule).Obj()},
			pods:  []*v1.Pod{st.MakePod().Name("a").Node("n1").Priority(1).Obj()},
			pod:   st.MakePod().Name("p").Priority(10).Obj(),
			want:  "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.nodes, append(tc.pods, tc.pod))
			r, s := e.postFilter(t, tc.pod)
			if s.Code() != framework.Unschedulable || s.Message() != tc.want {
				t.Errorf("status %v\nwant message %q", s, tc.want)
			}
			if len(e.deleted()) != 0 {
				t.Errorf("deleted %v", e.deleted())
			}
			_ = r
		})
	}
}

func TestPDBsAreAvoided(t *testing.T) {
	pods := []*v1.Pod{
		st.MakePod().Name("guarded").Node("n1").Label("app", "db").Priority(1).Req("cpu", "1").Obj(),
		st.MakePod().Name("free").Node("n2").Label("app", "web").Priority(1).Req("cpu", "1").Obj(),
		st.MakePod().Name("preemptor").Priority(10).Req("cpu", "1").Obj(),
	}
	pdb := &policy.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:       policy.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     policy.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}
	e := newEnv(t, []*v1.Node{node("n1", "1"), node("n2", "1")}, pods, pdb)
	r, s := e.postFilter(t, pods[2])
	if !s.IsSuccess() || r.NominatedNodeName != "n2" {
		t.Fatalf("nominated %+v (%v), want n2", r, s)
	}
	if got := e.deleted(); len(got) != 1 || got[0] != "free" {
		t.Errorf("deleted %v", got)
	}
}

func TestFilterPodsWithPDBViolation(t *testing.T) {
	pi := func(name, app string) *framework.PodInfo {
		return framework.NewPodInfo(st.MakePod().Name(name).Label("app", app).Obj())
	}
	pdb := &policy.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
		Spec:       policy.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     policy.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, DisruptedPods: map[string]metav1.Time{"db-gone": {}}},
	}
	violating, ok := filterPodsWithPDBViolation([]*framework.PodInfo{pi("db-1", "db"), pi("db-2", "db"), pi("web", "web"), pi("db-gone", "db")}, []*policy.PodDisruptionBudget{pdb})
	if len(violating) != 1 || violating[0].Pod.Name != "db-2" || len(ok) != 3 {
		t.Errorf("violating %d, non-violating %d", len(violating), len(ok))
	}
}

func TestPickOne(t *testing.T) {
	pl := &DefaultPreemption{h: fakeHandle{}}
	now := time.Unix(1000, 0)
	pod := func(prio int32, started int64) *v1.Pod {
		return st.MakePod().Priority(prio).StartTime(metav1.NewTime(now.Add(time.Duration(started) * time.Second))).Obj()
	}
	tests := []struct {
		name string
		cs   []*candidate
		want string
	}{
		{"fewest PDB violations", []*candidate{
			{node: "a", victims: []*v1.Pod{pod(1, 0)}, pdbViolations: 1},
			{node: "b", victims: []*v1.Pod{pod(5, 0), pod(5, 0)}},
		}, "b"},
		{"lowest highest priority", []*candidate{
			{node: "a", victims: []*v1.Pod{pod(5, 0)}},
			{node: "b", victims: []*v1.Pod{pod(3, 0), pod(3, 0)}},
		}, "b"},
		{"lowest sum of priorities", []*candidate{
			{node: "a", victims: []*v1.Pod{pod(3, 0), pod(2, 0)}},
			{node: "b", victims: []*v1.Pod{pod(3, 0), pod(1, 0)}},
		}, "b"},
		{"fewest victims", []*candidate{
			{node: "a", victims: []*v1.Pod{pod(3, 0), pod(0, 0)}},
			{node: "b", victims: []*v1.Pod{pod(3, 0)}},
		}, "b"},
		{"latest started", []*candidate{
			{node: "a", victims: []*v1.Pod{pod(3, 10)}},
			{node: "b", victims: []*v1.Pod{pod(3, 20)}},
		}, "b"},
	}
	for _, tc := range tests {
		if got := pl.pickOne(tc.cs); got.node != tc.want {
			t.Errorf("%s: picked %s, want %s", tc.name, got.node, tc.want)
		}
	}
}

// fakeHandle gives pickOne a clock.
type fakeHandle struct{ framework.Handle }

func (fakeHandle) Now() time.Time { return time.Unix(5000, 0) }
