package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

// fixture is a controller on a fake clientset whose informers are not
// started: the test fills their stores, as a lagging cache would be.
type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
	seq      atomic.Int64
}

func newFixture(t *testing.T, rs *appsv1.ReplicaSet, pods ...*corev1.Pod) *fixture {
	objs := []runtime.Object{rs}
	for _, p := range pods {
		objs = append(objs, p)
	}
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...), recorder: record.NewFakeRecorder(100)}
	// The fake clientset does not generate names.
	f.client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, f.seq.Add(1))
		}
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := NewWithConfig(&controller.Shared{
		Client:    f.client,
		Informers: f.factory,
		Recorder:  func(string) record.EventRecorder { return f.recorder },
		Now:       func() time.Time { return t0 },
	}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.addToCache(rs)
	for _, p := range pods {
		f.addToCache(p)
	}
	return f
}

func (f *fixture) addToCache(obj runtime.Object) {
	var err error
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		err = f.factory.Apps().V1().ReplicaSets().Informer().GetStore().Add(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetStore().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() error { return f.c.sync(context.Background(), "ns/web") }

// actions lists the verbs on a resource (and subresource) since the last
// call.
func (f *fixture) actions(verb, resource string) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
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

func owned(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)}
		if p.Labels == nil {
			p.Labels = map[string]string{"app": "web", "tier": "front"}
		}
	}
}

// TestNoOverCreation: pods created but not yet in the cache are not
// created again; the informer's adds satisfy the expectations.
func TestNoOverCreation(t *testing.T) {
	rs := mkRS(3)
	f := newFixture(t, rs)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 3 {
		t.Fatalf("%d pods created, want 3", len(creates))
	}
	pod := creates[0].(clienttesting.CreateAction).GetObject().(*corev1.Pod)
	ref := metav1.GetControllerOf(pod)
	if pod.GenerateName != "web-" || pod.Labels["tier"] != "front" || ref == nil || ref.UID != rs.UID ||
		ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || !*ref.BlockOwnerDeletion {
		t.Errorf("created pod %+v", pod.ObjectMeta)
	}
	evs := f.events()
	if len(evs) != 3 || !strings.HasPrefix(evs[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Errorf("events %v", evs)
	}
	// The cache has none of them yet: nothing more is created.
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 3 {
		t.Fatalf("%d pods created while the cache lagged, want 3", n)
	}
	// The informer sees them.
	stored, err := f.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(stored.Items) != 3 {
		t.Fatalf("stored pods: %v %v", stored, err)
	}
	for i := range stored.Items {
		p := &stored.Items[i]
		f.addToCache(p)
		f.c.addPod(p)
	}
	if !f.c.exp.satisfied("ns/web") {
		t.Fatal("expectations not satisfied after the adds")
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 3 {
		t.Fatalf("%d pods created, want 3", n)
	}
	updates := f.actions("update", "replicasets")
	last := updates[len(updates)-1].(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
	if last.Status.Replicas != 3 || last.Status.FullyLabeledReplicas != 3 || last.Status.ObservedGeneration != 3 {
		t.Errorf("status %+v", last.Status)
	}
}

// TestSlowStartOnFailure: when creations fail, one attempt is made, a
// FailedCreate event is recorded, and ReplicaFailure set.
func TestSlowStartOnFailure(t *testing.T) {
	rs := mkRS(10)
	f := newFixture(t, rs)
	f.client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("pods is forbidden: exceeded quota")
	})
	err := f.sync()
	if err == nil {
		t.Fatal("sync succeeded")
	}
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d creation attempts, want 1", n)
	}
	evs := f.events()
	if len(evs) != 1 || evs[0] != "Warning FailedCreate Error creating: pods is forbidden: exceeded quota" {
		t.Errorf("events %v", evs)
	}
	if !f.c.exp.satisfied("ns/web") {
		t.Error("failed creations still expected")
	}
	updates := f.actions("update", "replicasets")
	if len(updates) != 1 {
		t.Fatalf("%d status updates", len(updates))
	}
	st := updates[0].(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	if len(st.Conditions) != 1 || st.Conditions[0].Reason != "FailedCreate" || st.Conditions[0].Message != "pods is forbidden: exceeded quota" {
		t.Errorf("conditions %+v", st.Conditions)
	}
}

// TestAdoptAndRelease: a matching orphan is adopted and an owned pod that
// stopped matching is released, by strategic merge patches.
func TestAdoptAndRelease(t *testing.T) {
	rs := mkRS(2)
	orphan := mkPod("orphan", labeled(map[string]string{"app": "web"}))
	strayed := mkPod("strayed", owned(rs), labeled(map[string]string{"app": "other"}))
	foreign := mkPod("foreign", labeled(map[string]string{"app": "web"}))
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Other", Name: "x", UID: "other", Controller: ptrTrue()}}
	f := newFixture(t, rs, orphan, strayed, foreign)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	patches := map[string]string{}
	for _, a := range f.actions("patch", "pods") {
		pa := a.(clienttesting.PatchAction)
		patches[pa.GetName()] = string(pa.GetPatch())
	}
	if len(patches) != 2 {
		t.Fatalf("patches %v", patches)
	}
	var adopt map[string]map[string]interface{}
	if err := json.Unmarshal([]byte(patches["orphan"]), &adopt); err != nil {
		t.Fatal(err)
	}
	refs := adopt["metadata"]["ownerReferences"].([]interface{})
	ref := refs[0].(map[string]interface{})
	if adopt["metadata"]["uid"] != "uid-orphan" || ref["uid"] != "rs-uid" || ref["controller"] != true ||
		ref["blockOwnerDeletion"] != true || ref["kind"] != "ReplicaSet" || ref["name"] != "web" {
		t.Errorf("adoption patch %s", patches["orphan"])
	}
	if want := `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"rs-uid"}],"uid":"uid-strayed"}}`; patches["strayed"] != want {
		t.Errorf("release patch %s, want %s", patches["strayed"], want)
	}
	// Adopted: one pod, one more to create.
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d pods created, want 1", n)
	}
}

func ptrTrue() *bool { b := true; return &b }

// TestScaleDownOrder: the surplus pods deleted are the unscheduled and the
// not-ready ones, with SuccessfulDelete events, and their deletions are
// expected.
func TestScaleDownOrder(t *testing.T) {
	rs := mkRS(1)
	pods := []*corev1.Pod{
		mkPod("ready", owned(rs), readySince(time.Hour)),
		mkPod("notready", owned(rs)),
		mkPod("unscheduled", owned(rs), onNode(""), phase(corev1.PodPending)),
	}
	f := newFixture(t, rs, pods...)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.actions("delete", "pods") {
		deleted = append(deleted, a.(clienttesting.DeleteAction).GetName())
	}
	sort.Strings(deleted)
	if strings.Join(deleted, ",") != "notready,unscheduled" {
		t.Fatalf("deleted %v", deleted)
	}
	evs := f.events()
	sort.Strings(evs)
	if len(evs) != 2 || evs[0] != "Normal SuccessfulDelete Deleted pod: notready" {
		t.Errorf("events %v", evs)
	}
	if f.c.exp.satisfied("ns/web") {
		t.Error("deletions not expected")
	}
	// The graceful deletion of one and the removal of the other are seen.
	f.c.deletePod(pods[1])
	f.c.deletePod(pods[2])
	if !f.c.exp.satisfied("ns/web") {
		t.Error("deletions seen but still expected")
	}
}

// TestTerminatingPodsDoNotCount: a terminating or finished pod is replaced.
func TestTerminatingPodsDoNotCount(t *testing.T) {
	rs := mkRS(2)
	term := mkPod("terminating", owned(rs))
	now := metav1.NewTime(t0)
	term.DeletionTimestamp = &now
	done := mkPod("done", owned(rs), phase(corev1.PodSucceeded))
	f := newFixture(t, rs, term, done, mkPod("live", owned(rs)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d pods created, want 1", n)
	}
}
