package disruption

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// fakeScales answers scale lookups from a map by owner UID.
type fakeScales map[types.UID]int32

func (f fakeScales) scaleOf(_ context.Context, ref *metav1.OwnerReference, _ string) (*controllerScale, error) {
	if n, ok := f[ref.UID]; ok {
		return &controllerScale{ref.UID, n}, nil
	}
	return nil, nil
}

type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...), recorder: record.NewFakeRecorder(100)}
	factory := informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return f.recorder },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.scales = fakeScales{"crd-uid": 10, "rc-uid": 2}
	f.c = c
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetStore().Add(o)
		case *policyv1.PodDisruptionBudget:
			err = factory.Policy().V1().PodDisruptionBudgets().Informer().GetStore().Add(o)
		case *appsv1.ReplicaSet:
			err = factory.Apps().V1().ReplicaSets().Informer().GetStore().Add(o)
		case *appsv1.Deployment:
			err = factory.Apps().V1().Deployments().Informer().GetStore().Add(o)
		case *appsv1.StatefulSet:
			err = factory.Apps().V1().StatefulSets().Informer().GetStore().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) pdb() *policyv1.PodDisruptionBudget {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "ns/pdb"); err != nil {
		f.t.Fatal(err)
	}
	p, err := f.client.PolicyV1().PodDisruptionBudgets("ns").Get(context.Background(), "pdb", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) events() string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

func budget(min, max *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: "ns", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: min, MaxUnavailable: max,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
}

func ptr(v intstr.IntOrString) *intstr.IntOrString { return &v }
func i32(n int32) *int32                           { return &n }

func ownedPod(name string, ready bool, owner *metav1.OwnerReference) *corev1.Pod {
	s := corev1.ConditionFalse
	if ready {
		s = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func ref(apiVersion, kind, name string, uid types.UID) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes}
}

func TestStatus(t *testing.T) {
	rsRef := ref("apps/v1", "ReplicaSet", "rs", "rs-uid")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{*ref("apps/v1", "Deployment", "d", "d-uid")}}, Spec: appsv1.ReplicaSetSpec{Replicas: i32(3)}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "d-uid"}, Spec: appsv1.DeploymentSpec{Replicas: i32(4)}}
	lone := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: "ns", UID: "lone-uid"}, Spec: appsv1.ReplicaSetSpec{Replicas: i32(6)}}
	ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "ss", Namespace: "ns", UID: "ss-uid"}, Spec: appsv1.StatefulSetSpec{Replicas: i32(5)}}
	ssRef := ref("apps/v1", "StatefulSet", "ss", "ss-uid")
	cases := []struct {
		name                               string
		pdb                                *policyv1.PodDisruptionBudget
		objs                               []runtime.Object
		healthy, desired, expected, allowd int32
		reason                             string
	}{
		{"minAvailable 2 of 3 ready unmanaged pods", budget(ptr(intstr.FromInt32(2)), nil),
			[]runtime.Object{ownedPod("a", true, nil), ownedPod("b", true, nil), ownedPod("c", true, nil)},
			3, 2, 3, 1, policyv1.SufficientPodsReason},
		{"minAvailable 2 of 2 ready", budget(ptr(intstr.FromInt32(2)), nil),
			[]runtime.Object{ownedPod("a", true, nil), ownedPod("b", true, nil), ownedPod("c", false, nil)},
			2, 2, 3, 0, policyv1.InsufficientPodsReason},
		{"maxUnavailable 1 of a Deployment's 4", budget(nil, ptr(intstr.FromInt32(1))),
			[]runtime.Object{rs, dep, ownedPod("a", true, rsRef), ownedPod("b", true, rsRef), ownedPod("c", true, rsRef)},
			3, 3, 4, 0, policyv1.InsufficientPodsReason},
		{"maxUnavailable 50% of a ReplicaSet's 6", budget(nil, ptr(intstr.FromString("50%"))),
			[]runtime.Object{lone, ownedPod("a", true, ref("apps/v1", "ReplicaSet", "lone", "lone-uid")),
				ownedPod("b", true, ref("apps/v1", "ReplicaSet", "lone", "lone-uid")), ownedPod("c", true, ref("apps/v1", "ReplicaSet", "lone", "lone-uid")),
				ownedPod("d", true, ref("apps/v1", "ReplicaSet", "lone", "lone-uid"))},
			4, 3, 6, 1, policyv1.SufficientPodsReason},
		{"minAvailable 50% of a StatefulSet's 5 rounds up", budget(ptr(intstr.FromString("50%")), nil),
			[]runtime.Object{ss, ownedPod("a", true, ssRef), ownedPod("b", true, ssRef), ownedPod("c", true, ssRef), ownedPod("d", true, ssRef), ownedPod("e", true, ssRef)},
			5, 3, 5, 2, policyv1.SufficientPodsReason},
		{"maxUnavailable of a ReplicationController, by its scale", budget(nil, ptr(intstr.FromInt32(1))),
			[]runtime.Object{ownedPod("a", true, ref("v1", "ReplicationController", "rc", "rc-uid")), ownedPod("b", true, ref("v1", "ReplicationController", "rc", "rc-uid"))},
			2, 1, 2, 1, policyv1.SufficientPodsReason},
		{"scale subresource of another kind", budget(nil, ptr(intstr.FromString("10%"))),
			[]runtime.Object{ownedPod("a", true, ref("example.com/v1", "Widget", "w", "crd-uid"))},
			1, 9, 10, 0, policyv1.InsufficientPodsReason},
		{"no pods", budget(ptr(intstr.FromInt32(0)), nil), nil, 0, 0, 0, 0, policyv1.InsufficientPodsReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, append(tc.objs, tc.pdb)...)
			st := f.pdb().Status
			if st.CurrentHealthy != tc.healthy || st.DesiredHealthy != tc.desired || st.ExpectedPods != tc.expected || st.DisruptionsAllowed != tc.allowd {
				t.Errorf("status healthy/desired/expected/allowed = %d/%d/%d/%d; want %d/%d/%d/%d", st.CurrentHealthy, st.DesiredHealthy,
					st.ExpectedPods, st.DisruptionsAllowed, tc.healthy, tc.desired, tc.expected, tc.allowd)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d; want 3", st.ObservedGeneration)
			}
			c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			wantStatus := metav1.ConditionFalse
			if tc.allowd > 0 {
				wantStatus = metav1.ConditionTrue
			}
			if c == nil || c.Reason != tc.reason || c.Status != wantStatus || c.ObservedGeneration != 3 {
				t.Errorf("condition = %+v; want %s/%s", c, wantStatus, tc.reason)
			}
		})
	}
}

func TestUnmanagedPodsEvent(t *testing.T) {
	f := newFixture(t, budget(nil, ptr(intstr.FromInt32(1))), ownedPod("a", true, nil))
	st := f.pdb().Status
	if st.ExpectedPods != 0 || st.DisruptionsAllowed != 0 {
		t.Errorf("expected/allowed = %d/%d; want 0/0", st.ExpectedPods, st.DisruptionsAllowed)
	}
	if ev := f.events(); !strings.Contains(ev, "Warning UnmanagedPods Pods selected by this PodDisruptionBudget") {
		t.Errorf("events = %q", ev)
	}
}

func TestSyncFailure(t *testing.T) {
	pdb := budget(nil, ptr(intstr.FromInt32(1)))
	pdb.Status.DisruptionsAllowed = 2
	f := newFixture(t, pdb, ownedPod("a", true, ref("apps/v1", "ReplicaSet", "missing", "x")))
	st := f.pdb().Status
	c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if st.DisruptionsAllowed != 0 || c == nil || c.Reason != policyv1.SyncFailedReason || c.Status != metav1.ConditionFalse ||
		c.Message != `found no controllers for pod "a"` {
		t.Errorf("status = %+v; want SyncFailed with 0 allowed", st)
	}
}

func TestDisruptedPods(t *testing.T) {
	pdb := budget(ptr(intstr.FromInt32(1)), nil)
	pdb.Status.DisruptedPods = map[string]metav1.Time{
		"recent":   metav1.NewTime(t0.Add(-30 * time.Second)),
		"old":      metav1.NewTime(t0.Add(-3 * time.Minute)),
		"deleting": metav1.NewTime(t0.Add(-10 * time.Second)),
		"gone":     metav1.NewTime(t0.Add(-10 * time.Second)),
	}
	deleting := ownedPod("deleting", true, nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	f := newFixture(t, pdb, ownedPod("recent", true, nil), ownedPod("old", true, nil), deleting)
	st := f.pdb().Status
	if len(st.DisruptedPods) != 1 || st.DisruptedPods["recent"].Time.IsZero() {
		t.Errorf("disruptedPods = %v; want only the recent one", st.DisruptedPods)
	}
	if st.CurrentHealthy != 1 {
		t.Errorf("currentHealthy = %d; want 1 (old): recent is going, deleting is", st.CurrentHealthy)
	}
	if ev := f.events(); !strings.Contains(ev, "Warning NotDeleted Pod was expected by PDB ns/ns to be deleted but it wasn't") {
		t.Errorf("events = %q", ev)
	}
	if f.c.worker.Len() != 0 {
		// The recheck is delayed: nothing is queued yet.
		t.Errorf("%d keys queued at once", f.c.worker.Len())
	}
}

func TestStaleDisruptionCondition(t *testing.T) {
	pod := ownedPod("p", true, nil)
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(t0.Add(-3 * time.Minute))})
	fresh := ownedPod("q", true, nil)
	fresh.Status.Conditions = append(fresh.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))})
	f := newFixture(t, pod, fresh)
	for _, key := range []string{"ns/p", "ns/q"} {
		if err := f.c.syncStalePod(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, want corev1.ConditionStatus) {
		p, err := f.client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status != want {
				t.Errorf("pod %s DisruptionTarget = %s; want %s", name, c.Status, want)
			}
		}
	}
	check("p", corev1.ConditionFalse)
	check("q", corev1.ConditionTrue)
	if stale, wait := f.c.staleDisruptionCondition(fresh); !stale || wait != time.Minute {
		t.Errorf("fresh condition: stale=%v in %v; want true in 1m", stale, wait)
	}
}

func TestIsKind(t *testing.T) {
	cases := []struct {
		ref  *metav1.OwnerReference
		want bool
		err  bool
	}{
		{ref("apps/v1", "ReplicaSet", "x", "u"), true, false},
		{ref("extensions/v1beta1", "ReplicaSet", "x", "u"), true, false},
		{ref("example.com/v1", "ReplicaSet", "x", "u"), false, false},
		{ref("a/b/c", "ReplicaSet", "x", "u"), false, true},
	}
	for _, tc := range cases {
		got, err := isKind(tc.ref, "ReplicaSet", "apps", "extensions")
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("isKind(%s) = %v, %v", tc.ref.APIVersion, got, err)
		}
	}
}
