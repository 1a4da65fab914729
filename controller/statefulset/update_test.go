package statefulset

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

// fixture is a controller over a fake clientset whose informer caches are
// filled by hand.
type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
}

func newFixture(t *testing.T, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision, pods ...*corev1.Pod) *fixture {
	t.Helper()
	return newFixtureWith(t, nil, set, revs, pods...)
}

// newFixtureWith is newFixture with a hook to set the fake clientset up
// before the controller is built.
func newFixtureWith(t *testing.T, setup func(*fake.Clientset), set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision, pods ...*corev1.Pod) *fixture {
	t.Helper()
	objs := []runtime.Object{set}
	for _, r := range revs {
		objs = append(objs, r)
	}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewSimpleClientset(objs...)
	if setup != nil {
		setup(client)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	ctrl, err := New(&controller.Shared{
		Client: client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return recorder },
		Options:  controller.Options{Workers: 1},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, c: ctrl.(*Controller), client: client, recorder: recorder, factory: factory}
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

func (f *fixture) cache(o runtime.Object) {
	var err error
	switch o := o.(type) {
	case *appsv1.StatefulSet:
		err = f.factory.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
	case *appsv1.ControllerRevision:
		err = f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// pods returns the names of the pods created and deleted by the last sync.
func (f *fixture) podActions() (created, deleted []string) {
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			created = append(created, a.GetObject().(*corev1.Pod).Name)
		case k8stesting.DeleteAction:
			deleted = append(deleted, a.GetName())
		}
	}
	sort.Strings(created)
	sort.Strings(deleted)
	return created, deleted
}

func (f *fixture) status() appsv1.StatefulSetStatus {
	set, err := f.client.AppsV1().StatefulSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return set.Status
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// revisionOf returns the revision recording set's current template.
func revisionOf(t *testing.T, set *appsv1.StatefulSet, n int64) *appsv1.ControllerRevision {
	rev, err := newRevision(set, n, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	rev.Namespace = set.Namespace
	return rev
}

// stored returns pod ordinal of set at rev, Running and (if ready) Ready.
func stored(set *appsv1.StatefulSet, rev string, ordinal int, ready bool) *corev1.Pod {
	p := newPod(set, ordinal)
	setRevision(p, rev)
	p.UID = types.UID("uid-" + p.Name)
	p.Status.Phase = corev1.PodPending
	if ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	}
	return p
}

func TestOrderedCreation(t *testing.T) {
	set := testSet("web", 3)
	rev := revisionOf(t, set, 1)
	for _, tc := range []struct {
		name        string
		pods        []*corev1.Pod
		wantCreated []string
	}{
		{"first pod only", nil, []string{"web-0"}},
		{"waits for web-0 to be ready", []*corev1.Pod{stored(set, rev.Name, 0, false)}, nil},
		{"next once web-0 is ready", []*corev1.Pod{stored(set, rev.Name, 0, true)}, []string{"web-1"}},
		{"fills a gap first", []*corev1.Pod{stored(set, rev.Name, 0, true), stored(set, rev.Name, 2, true)}, []string{"web-1"}},
		{"all there", []*corev1.Pod{stored(set, rev.Name, 0, true), stored(set, rev.Name, 1, true), stored(set, rev.Name, 2, true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, set.DeepCopy(), nil, tc.pods...)
			f.sync()
			created, deleted := f.podActions()
			if !equalStrings(created, tc.wantCreated) || len(deleted) > 0 {
				t.Errorf("created %v deleted %v, want created %v", created, deleted, tc.wantCreated)
			}
			st := f.status()
			if st.UpdateRevision != rev.Name || st.CurrentRevision != rev.Name || st.ObservedGeneration != 1 || st.CollisionCount == nil {
				t.Errorf("status = %+v, want revisions %s", st, rev.Name)
			}
			if int(st.Replicas) != len(tc.pods) {
				t.Errorf("status replicas %d, want %d", st.Replicas, len(tc.pods))
			}
			for _, name := range tc.wantCreated {
				want := "Normal SuccessfulCreate create Pod " + name + " in StatefulSet web successful"
				if ev := f.events(); len(ev) != 1 || ev[0] != want {
					t.Errorf("events %q, want %q", ev, want)
				}
			}
		})
	}
}

func TestParallelCreationAndDeletion(t *testing.T) {
	set := testSet("web", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set, nil, stored(set, rev.Name, 1, false))
	f.sync()
	if created, _ := f.podActions(); !equalStrings(created, []string{"web-0", "web-2"}) {
		t.Errorf("parallel created %v", created)
	}

	small := set.DeepCopy()
	small.Spec.Replicas = ptr.To[int32](1)
	f = newFixture(t, small, nil, stored(set, rev.Name, 0, false), stored(set, rev.Name, 1, false), stored(set, rev.Name, 2, true))
	f.sync()
	if _, deleted := f.podActions(); !equalStrings(deleted, []string{"web-1", "web-2"}) {
		t.Errorf("parallel scale down deleted %v", deleted)
	}
}

func TestOrderedScaleDown(t *testing.T) {
	set := testSet("web", 1)
	rev := revisionOf(t, set, 1)
	for _, tc := range []struct {
		name        string
		pods        []*corev1.Pod
		wantDeleted []string
	}{
		{"highest first", []*corev1.Pod{stored(set, rev.Name, 0, true), stored(set, rev.Name, 1, true), stored(set, rev.Name, 2, true)}, []string{"web-2"}},
		{"the first unhealthy pod may go", []*corev1.Pod{stored(set, rev.Name, 0, true), stored(set, rev.Name, 1, true), stored(set, rev.Name, 2, false)}, []string{"web-2"}},
		{"an unhealthy pod that is not the first waits", []*corev1.Pod{stored(set, rev.Name, 0, true), stored(set, rev.Name, 1, false), stored(set, rev.Name, 2, false)}, nil},
		{"blocked by an unready replica", []*corev1.Pod{stored(set, rev.Name, 0, false), stored(set, rev.Name, 1, true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, set.DeepCopy(), nil, tc.pods...)
			f.sync()
			created, deleted := f.podActions()
			if len(created) > 0 || !equalStrings(deleted, tc.wantDeleted) {
				t.Errorf("created %v deleted %v, want deleted %v", created, deleted, tc.wantDeleted)
			}
		})
	}
}

func TestRollingUpdate(t *testing.T) {
	old := testSet("web", 3)
	oldRev := revisionOf(t, old, 1)
	set := old.DeepCopy()
	set.Generation = 2
	set.Spec.Template.Spec.Containers[0].Image = "img:2"
	set.Status = appsv1.StatefulSetStatus{CurrentRevision: oldRev.Name, UpdateRevision: oldRev.Name, Replicas: 3, ObservedGeneration: 1}
	newRev := revisionOf(t, set, 2)
	for _, tc := range []struct {
		name        string
		strategy    appsv1.StatefulSetUpdateStrategy
		pods        []*corev1.Pod
		wantDeleted []string
	}{
		{"highest first", partition(0), []*corev1.Pod{stored(old, oldRev.Name, 0, true), stored(old, oldRev.Name, 1, true), stored(old, oldRev.Name, 2, true)}, []string{"web-2"}},
		{"then the next", partition(0), []*corev1.Pod{stored(old, oldRev.Name, 0, true), stored(old, oldRev.Name, 1, true), stored(set, newRev.Name, 2, true)}, []string{"web-1"}},
		{"waits for the updated pod", partition(0), []*corev1.Pod{stored(old, oldRev.Name, 0, true), stored(old, oldRev.Name, 1, true), stored(set, newRev.Name, 2, false)}, nil},
		{"stops at the partition", partition(1), []*corev1.Pod{stored(old, oldRev.Name, 0, true), stored(set, newRev.Name, 1, true), stored(set, newRev.Name, 2, true)}, nil},
		{"on delete leaves pods alone", appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, []*corev1.Pod{stored(old, oldRev.Name, 0, true), stored(old, oldRev.Name, 1, true), stored(old, oldRev.Name, 2, true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := set.DeepCopy()
			s.Spec.UpdateStrategy = tc.strategy
			f := newFixture(t, s, []*appsv1.ControllerRevision{oldRev}, tc.pods...)
			f.sync()
			created, deleted := f.podActions()
			if len(created) > 0 || !equalStrings(deleted, tc.wantDeleted) {
				t.Errorf("created %v deleted %v, want deleted %v", created, deleted, tc.wantDeleted)
			}
			st := f.status()
			wantNewRev := revisionOf(t, s, 2).Name
			if st.CurrentRevision != oldRev.Name || st.UpdateRevision != wantNewRev || st.ObservedGeneration != 2 {
				t.Errorf("status revisions %s -> %s (generation %d), want %s -> %s", st.CurrentRevision, st.UpdateRevision, st.ObservedGeneration, oldRev.Name, wantNewRev)
			}
		})
	}
}

func partition(n int32) appsv1.StatefulSetUpdateStrategy {
	return appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(n)},
	}
}

func TestCompletedRollingUpdateStatus(t *testing.T) {
	old := testSet("web", 2)
	oldRev := revisionOf(t, old, 1)
	set := old.DeepCopy()
	set.Spec.Template.Spec.Containers[0].Image = "img:2"
	newRev := revisionOf(t, set, 2)
	set.Status = appsv1.StatefulSetStatus{CurrentRevision: oldRev.Name, UpdateRevision: newRev.Name}
	f := newFixture(t, set, []*appsv1.ControllerRevision{oldRev, newRev}, stored(set, newRev.Name, 0, true), stored(set, newRev.Name, 1, true))
	f.sync()
	st := f.status()
	if st.CurrentRevision != newRev.Name || st.CurrentReplicas != 2 || st.UpdatedReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 {
		t.Errorf("status after the update = %+v", st)
	}
}

func TestFailedPodIsReplaced(t *testing.T) {
	set := testSet("web", 1)
	rev := revisionOf(t, set, 1)
	failed := stored(set, rev.Name, 0, false)
	failed.Status.Phase = corev1.PodFailed
	f := newFixture(t, set, nil, failed)
	f.sync()
	if created, deleted := f.podActions(); len(created) > 0 || !equalStrings(deleted, []string{"web-0"}) {
		t.Errorf("created %v deleted %v", created, deleted)
	}
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "SuccessfulDelete delete Pod web-0 in StatefulSet web successful") {
		t.Errorf("events %q", ev)
	}
}

func TestAdoptionAndRelease(t *testing.T) {
	set := testSet("web", 2)
	rev := revisionOf(t, set, 1)
	orphan := stored(set, rev.Name, 0, true)
	orphan.OwnerReferences = nil
	misnamed := stored(set, rev.Name, 1, true)
	misnamed.Name = "other-1"
	f := newFixture(t, set, nil, orphan, misnamed)
	f.sync()
	var patched []string
	for _, a := range f.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "pods" {
			patched = append(patched, p.GetName()+":"+string(p.GetPatch()))
		}
	}
	if len(patched) != 2 {
		t.Fatalf("patches %v", patched)
	}
	sort.Strings(patched)
	if !strings.HasPrefix(patched[0], "other-1:") || !strings.Contains(patched[0], `"$patch":"delete"`) {
		t.Errorf("misnamed pod not released: %s", patched[0])
	}
	if !strings.HasPrefix(patched[1], "web-0:") || !strings.Contains(patched[1], `"controller":true`) {
		t.Errorf("orphan not adopted: %s", patched[1])
	}
}

func TestTruncateHistory(t *testing.T) {
	set := testSet("web", 1)
	set.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	var revs []*appsv1.ControllerRevision
	for i := 1; i <= 4; i++ {
		s := set.DeepCopy()
		s.Spec.Template.Spec.Containers[0].Image = "img:old" + string(rune('0'+i))
		revs = append(revs, revisionOf(t, s, int64(i)))
	}
	cur := revisionOf(t, set, 5)
	// A pod still runs revision 2: it stays.
	f := newFixture(t, set, append(revs, cur), stored(set, revs[1].Name, 0, true))
	f.sync()
	var deleted []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "controllerrevisions" {
			deleted = append(deleted, d.GetName())
		}
	}
	sort.Strings(deleted)
	want := []string{revs[0].Name, revs[2].Name}
	sort.Strings(want)
	if !equalStrings(deleted, want) {
		t.Errorf("deleted revisions %v, want %v (keep %s live and %s as history)", deleted, want, revs[1].Name, revs[3].Name)
	}
}

func TestStartOrdinal(t *testing.T) {
	set := testSet("web", 2)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set, nil, stored(set, rev.Name, 5, true))
	f.sync()
	if created, deleted := f.podActions(); !equalStrings(created, []string{"web-6"}) || len(deleted) > 0 {
		t.Errorf("created %v deleted %v, want web-6 created", created, deleted)
	}
	f = newFixture(t, set, nil, stored(set, rev.Name, 5, true), stored(set, rev.Name, 6, true), stored(set, rev.Name, 0, true))
	f.sync()
	if created, deleted := f.podActions(); len(created) > 0 || !equalStrings(deleted, []string{"web-0"}) {
		t.Errorf("created %v deleted %v, want web-0 (below the start) deleted", created, deleted)
	}
}

func TestClaimsWhenServed(t *testing.T) {
	set := testSet("web", 1)
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	serveClaims := func(c *fake.Clientset) {
		c.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "persistentvolumeclaims", Namespaced: true, Kind: "PersistentVolumeClaim"}}}}
	}
	for _, tc := range []struct {
		name   string
		setup  func(*fake.Clientset)
		claims []string
	}{
		{"served", serveClaims, []string{"data-web-0"}},
		{"not served", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, tc.setup, set.DeepCopy(), nil)
			f.sync()
			var claims []string
			for _, a := range f.client.Actions() {
				if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "persistentvolumeclaims" {
					pvc := c.GetObject().(*corev1.PersistentVolumeClaim)
					claims = append(claims, pvc.Name)
					if pvc.Labels["app"] != "web" || pvc.Namespace != "ns" {
						t.Errorf("claim %+v", pvc.ObjectMeta)
					}
				}
			}
			if !equalStrings(claims, tc.claims) {
				t.Errorf("claims created %v, want %v", claims, tc.claims)
			}
			if created, _ := f.podActions(); !equalStrings(created, []string{"web-0"}) {
				t.Errorf("pods created %v", created)
			}
			ev := f.events()
			if tc.claims != nil && (len(ev) != 2 || ev[0] != "Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success") {
				t.Errorf("events %q", ev)
			}
		})
	}
}
