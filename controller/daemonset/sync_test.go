package daemonset

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/history"
)

type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	// Name pods as the API server would.
	var generated atomic.Int64
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); p.Name == "" {
			p.Name = p.GenerateName + strconv.FormatInt(generated.Add(1), 10)
		}
		return false, nil, nil
	})
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
		var err error
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			err = factory.Apps().V1().DaemonSets().Informer().GetIndexer().Add(o)
		case *appsv1.ControllerRevision:
			err = factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = factory.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) sync() {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), "ns/ds"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// podActions returns the pods created (by target node) and deleted.
func (f *fixture) podActions() (created []*corev1.Pod, deleted []string) {
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			created = append(created, a.GetObject().(*corev1.Pod))
		case k8stesting.DeleteAction:
			deleted = append(deleted, a.GetName())
		}
	}
	sort.Slice(created, func(i, j int) bool { return target(created[i]) < target(created[j]) })
	sort.Strings(deleted)
	return created, deleted
}

func target(p *corev1.Pod) string {
	n, _ := targetNode(p)
	return n
}

func targets(pods []*corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, target(p))
	}
	return strings.Join(s, ",")
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

func (f *fixture) status() appsv1.DaemonSetStatus {
	ds, err := f.client.AppsV1().DaemonSets("ns").Get(context.Background(), "ds", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds.Status
}

// daemonPod returns ds's pod for node, at hash, bound if bound, Ready (an
// hour ago) if ready.
func daemonPod(ds *appsv1.DaemonSet, name, nodeName, hash string, bound, ready bool) *corev1.Pod {
	p := newPod(ds, podTemplate(ds, hash), nodeName)
	p.Name, p.UID = name, types.UID("uid-"+name)
	p.CreationTimestamp = metav1.NewTime(time.Unix(1000, 0))
	p.Status.Phase = corev1.PodPending
	if bound {
		p.Spec.NodeName = nodeName
	}
	if ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	}
	return p
}

func currentHash(ds *appsv1.DaemonSet) string { return history.HashTemplate(&ds.Spec.Template, nil) }

func TestManage(t *testing.T) {
	ds := testDS("ds")
	hash := currentHash(ds)
	objs := []runtime.Object{
		ds,
		node("plain", nil),
		node("cordoned", nil, taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
		node("dedicated", nil, taint("dedicated", corev1.TaintEffectNoSchedule)),
		node("evicting", nil, taint("dedicated", corev1.TaintEffectNoExecute)),
		node("served", nil),
		daemonPod(ds, "on-evicting", "evicting", hash, true, true),
		daemonPod(ds, "on-served", "served", hash, true, true),
		daemonPod(ds, "for-gone-node", "gone", hash, false, false),
		daemonPod(ds, "bound-to-gone-node", "gone2", hash, true, true),
	}
	f := newFixture(t, objs...)
	f.sync()
	created, deleted := f.podActions()
	if got := targets(created); got != "cordoned,plain" {
		t.Errorf("created pods for %q, want cordoned,plain", got)
	}
	if strings.Join(deleted, ",") != "for-gone-node,on-evicting" {
		t.Errorf("deleted %v", deleted)
	}
	for _, p := range created {
		checks := map[string]bool{
			"unbound":        p.Spec.NodeName == "",
			"generateName":   p.GenerateName == "ds-",
			"hash label":     p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash,
			"generation":     p.Labels["pod-template-generation"] == "1",
			"template label": p.Labels["app"] == "ds",
			"controller":     metav1.GetControllerOf(p) != nil && metav1.GetControllerOf(p).UID == "ds-uid",
			"tolerations":    len(p.Spec.Tolerations) == 6,
		}
		for what, ok := range checks {
			if !ok {
				t.Errorf("pod for %s: %s wrong: %+v", target(p), what, p)
			}
		}
	}
	var creates, deletes int
	for _, e := range f.events() {
		switch {
		case strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: "):
			creates++
		case strings.HasPrefix(e, "Normal SuccessfulDelete Deleted pod: "):
			deletes++
		}
	}
	if creates != 2 || deletes != 2 {
		t.Errorf("events: %d creations, %d deletions", creates, deletes)
	}
	st := f.status()
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 1, NumberMisscheduled: 1,
		NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 2, ObservedGeneration: 1}
	st.CollisionCount = nil
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status = %+v\nwant %+v", st, want)
	}
	// The expectations hold the next sync back until the informer reports
	// the creations and deletions.
	if f.c.expectations.satisfied("ns/ds") {
		t.Error("expectations satisfied right after creating pods")
	}
}

func TestFailedAndDuplicatePods(t *testing.T) {
	ds := testDS("ds")
	hash := currentHash(ds)
	failed := daemonPod(ds, "failed", "n1", hash, true, false)
	failed.Status.Phase = corev1.PodFailed
	older := daemonPod(ds, "older", "n2", hash, true, true)
	newer := daemonPod(ds, "newer", "n2", hash, true, true)
	newer.CreationTimestamp = metav1.NewTime(older.CreationTimestamp.Add(time.Second))
	f := newFixture(t, ds, node("n1", nil), node("n2", nil), failed, older, newer)
	f.sync()
	if _, deleted := f.podActions(); strings.Join(deleted, ",") != "failed,newer" {
		t.Errorf("deleted %v, want failed and newer", deleted)
	}
	found := false
	for _, e := range f.events() {
		found = found || e == "Warning FailedDaemonPod Found failed daemon pod ns/failed on node n1, will try to kill it"
	}
	if !found {
		t.Error("no FailedDaemonPod event")
	}
	// Right away, the failed pod's node is backed off.
	f.c.expectations.forget("ns/ds")
	f.sync()
	if _, deleted := f.podActions(); strings.Contains(strings.Join(deleted, ","), "failed") {
		t.Errorf("failed pod deleted again within the back-off: %v", deleted)
	}
}

func rolling(maxUnavailable, maxSurge int) appsv1.DaemonSetUpdateStrategy {
	return appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
		MaxUnavailable: ptr.To(intstr.FromInt32(int32(maxUnavailable))), MaxSurge: ptr.To(intstr.FromInt32(int32(maxSurge))),
	}}
}

func TestRollingUpdate(t *testing.T) {
	old := testDS("ds")
	oldHash := currentHash(old)
	ds := old.DeepCopy()
	ds.Generation = 2
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = "2"
	ds.Spec.Template.Spec.Containers[0].Image = "img:2"
	newHash := currentHash(ds)
	nodes := []runtime.Object{node("n1", nil), node("n2", nil), node("n3", nil)}
	oldPods := func() []*corev1.Pod {
		return []*corev1.Pod{
			daemonPod(old, "old-1", "n1", oldHash, true, true),
			daemonPod(old, "old-2", "n2", oldHash, true, true),
			daemonPod(old, "old-3", "n3", oldHash, true, true),
		}
	}
	for _, tc := range []struct {
		name        string
		strategy    appsv1.DaemonSetUpdateStrategy
		pods        []*corev1.Pod
		wantCreated string
		wantDeleted string
	}{
		{"one unavailable at a time", rolling(1, 0), oldPods(), "", "old-1"},
		{"two unavailable at a time", rolling(2, 0), oldPods(), "", "old-1,old-2"},
		{"waits for the new pod", rolling(1, 0), append(oldPods()[1:], daemonPod(ds, "new-1", "n1", newHash, true, false)), "", ""},
		{"continues once it is available", rolling(1, 0), append(oldPods()[1:], daemonPod(ds, "new-1", "n1", newHash, true, true)), "", "old-2"},
		{"an unavailable old pod goes at once", rolling(1, 0), append(oldPods()[:2], daemonPod(old, "old-3", "n3", oldHash, true, false)), "", "old-1,old-3"},
		{"surge creates next to the old pod", rolling(0, 1), oldPods(), "n1", ""},
		{"surge waits for the new pod", rolling(0, 1), append(oldPods(), daemonPod(ds, "new-1", "n1", newHash, true, false)), "", ""},
		// manage removes the replaced pod; the rollout goes on at the next sync.
		{"surge removes the replaced pod", rolling(0, 1), append(oldPods(), daemonPod(ds, "new-1", "n1", newHash, true, true)), "", "old-1"},
		{"surge goes on", rolling(0, 1), append(oldPods()[1:], daemonPod(ds, "new-1", "n1", newHash, true, true)), "n2", ""},
		{"on delete leaves pods alone", appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}, oldPods(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ds.DeepCopy()
			d.Spec.UpdateStrategy = tc.strategy
			objs := append([]runtime.Object{d}, nodes...)
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			f := newFixture(t, objs...)
			f.sync()
			created, deleted := f.podActions()
			if targets(created) != tc.wantCreated || strings.Join(deleted, ",") != tc.wantDeleted {
				t.Errorf("created for %q, deleted %v; want %q, %q", targets(created), deleted, tc.wantCreated, tc.wantDeleted)
			}
			for _, p := range created {
				if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != newHash || p.Spec.Containers[0].Image != "img:2" {
					t.Errorf("created pod at %s running %s", p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey], p.Spec.Containers[0].Image)
				}
			}
		})
	}
}

func TestRevisions(t *testing.T) {
	ds := testDS("ds")
	ds.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	f := newFixture(t, ds, node("n1", nil))
	f.sync()
	revs, err := f.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 {
		t.Fatalf("revisions %v %v", revs, err)
	}
	r := revs.Items[0]
	hash := currentHash(ds)
	if r.Name != "ds-"+hash || r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || r.Revision != 1 || metav1.GetControllerOf(&r) == nil {
		t.Errorf("revision = %+v", r.ObjectMeta)
	}
	if ok, _ := matches(ds, &r); !ok {
		t.Error("revision does not match its template")
	}
	if !strings.Contains(string(r.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("data = %s", r.Data.Raw)
	}

	// Three old revisions, one still run by a pod: with a limit of 1, the
	// oldest unused one goes.
	var objs []runtime.Object
	var oldRevs []*appsv1.ControllerRevision
	for i, img := range []string{"a", "b", "c"} {
		o := ds.DeepCopy()
		o.Spec.Template.Spec.Containers[0].Image = img
		patch, _ := templatePatch(o)
		h := currentHash(o)
		rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "ds-" + h, Namespace: "ns",
			Labels:          map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: h},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)}},
			Revision: int64(i + 1)}
		rev.Data.Raw = patch
		oldRevs = append(oldRevs, rev)
		objs = append(objs, rev)
	}
	objs = append(objs, ds, node("n1", nil), daemonPod(ds, "p", "n1", oldRevs[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey], true, true))
	f = newFixture(t, objs...)
	f.sync()
	var deleted []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "controllerrevisions" {
			deleted = append(deleted, d.GetName())
		}
	}
	if strings.Join(deleted, ",") != oldRevs[1].Name+","+oldRevs[2].Name {
		t.Errorf("deleted revisions %v, want %s and %s (%s is live)", deleted, oldRevs[1].Name, oldRevs[2].Name, oldRevs[0].Name)
	}
	cur, err := f.client.AppsV1().ControllerRevisions("ns").Get(context.Background(), "ds-"+hash, metav1.GetOptions{})
	if err != nil || cur.Revision != 4 {
		t.Errorf("current revision %v %v, want number 4", cur, err)
	}
}

func TestSelectingAll(t *testing.T) {
	ds := testDS("ds")
	ds.Spec.Selector = &metav1.LabelSelector{}
	f := newFixture(t, ds, node("n1", nil))
	f.sync()
	if created, _ := f.podActions(); len(created) != 0 {
		t.Errorf("created %d pods", len(created))
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Warning SelectingAll This daemon set is selecting all pods. A non-empty selector is required." {
		t.Errorf("events %q", ev)
	}
}
