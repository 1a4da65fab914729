package tainteviction

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func secs(n int64) *int64 { return &n }

func TestDecide(t *testing.T) {
	added := metav1.NewTime(t0.Add(-20 * time.Second))
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	custom := corev1.Taint{Key: "example.com/evict", Effect: corev1.TaintEffectNoExecute}
	tolerate := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	cases := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		since       time.Time
		evict       bool
		at          time.Time
	}{
		{"not tolerated", []corev1.Taint{custom}, nil, t0, true, t0},
		{"one of two not tolerated", []corev1.Taint{unreachable, custom}, []corev1.Toleration{tolerate(unreachable.Key, nil)}, t0, true, t0},
		{"forever", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(unreachable.Key, nil)}, t0, false, time.Time{}},
		{"tolerate all forever", []corev1.Taint{unreachable, custom}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, t0, false, time.Time{}},
		{"from timeAdded (to the second)", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(unreachable.Key, secs(300))}, t0, true, added.Add(301 * time.Second)},
		{"seen within the second", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(unreachable.Key, secs(300))}, added.Add(500 * time.Millisecond), true, added.Add(300500 * time.Millisecond)},
		{"elapsed", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(unreachable.Key, secs(10))}, t0, true, added.Add(11 * time.Second)},
		{"zero seconds", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(unreachable.Key, secs(0))}, t0, true, t0},
		{"no timeAdded counts from since", []corev1.Taint{custom}, []corev1.Toleration{tolerate(custom.Key, secs(30))}, t0.Add(-5 * time.Second), true, t0.Add(25 * time.Second)},
		{"shortest wins", []corev1.Taint{unreachable, custom}, []corev1.Toleration{tolerate(unreachable.Key, secs(300)), tolerate(custom.Key, secs(60))}, t0, true, t0.Add(60 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.taints, tc.tolerations, tc.since, t0)
			if d.evict != tc.evict || (d.evict && !d.at.Equal(tc.at)) {
				t.Errorf("decide = %v at %v; want %v at %v", d.evict, d.at, tc.evict, tc.at)
			}
		})
	}
}

type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	now      time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...), recorder: record.NewFakeRecorder(100), now: t0}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return f.recorder },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = f.factory.Core().V1().Pods().Informer().GetStore().Add(o)
		case *corev1.Node:
			err = f.factory.Core().V1().Nodes().Informer().GetStore().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) sync(key string) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) gone(name string) bool {
	_, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
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

func taintedNode(taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: taints}}
}

func pod(name string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n", Tolerations: tolerations},
	}
}

func TestEvictsUntoleratedPodAtOnce(t *testing.T) {
	f := newFixture(t, taintedNode(corev1.Taint{Key: "example.com/evict", Effect: corev1.TaintEffectNoExecute}), pod("p"))
	f.sync("default/p")
	if !f.gone("p") {
		t.Fatal("pod not deleted")
	}
	if ev := f.events(); !strings.Contains(ev, "Normal TaintManagerEviction Marking for deletion Pod default/p") {
		t.Errorf("events = %q", ev)
	}
	// The DisruptionTarget condition was written before the deletion.
	var sawStatus bool
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			p := a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.Pod)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "DeletionByTaintManager" &&
					c.Message == "Taint manager: deleting due to NoExecute taint" {
					sawStatus = true
				}
			}
		}
		if a.GetVerb() == "delete" && !sawStatus {
			t.Fatal("deleted before the DisruptionTarget condition was set")
		}
	}
	if !sawStatus {
		t.Error("no DisruptionTarget condition written")
	}
}

func TestEvictsAfterTolerationSeconds(t *testing.T) {
	added := metav1.NewTime(t0)
	taint := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	tol := corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpExists, Effect: taint.Effect, TolerationSeconds: secs(30)}
	forever := corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpExists, Effect: taint.Effect}
	f := newFixture(t, taintedNode(taint), pod("p", tol), pod("q", forever))
	f.now = t0.Add(10 * time.Second)
	f.sync("default/p")
	f.sync("default/q")
	if f.gone("p") || f.gone("q") {
		t.Fatal("pod deleted before its toleration ended")
	}
	f.now = t0.Add(30 * time.Second)
	f.sync("default/p")
	if f.gone("p") {
		t.Error("pod p deleted before the end of the taint's second + 30s")
	}
	f.now = t0.Add(31 * time.Second)
	f.sync("default/p")
	f.sync("default/q")
	if !f.gone("p") {
		t.Error("pod p not deleted 31s after the taint's timeAdded")
	}
	if f.gone("q") {
		t.Error("pod q tolerates the taint forever")
	}
}

func TestTaintRemovalCancels(t *testing.T) {
	added := metav1.NewTime(t0)
	taint := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	tol := corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpExists, Effect: taint.Effect, TolerationSeconds: secs(30)}
	f := newFixture(t, taintedNode(taint), pod("p", tol))
	f.sync("default/p")
	if err := f.factory.Core().V1().Nodes().Informer().GetStore().Update(taintedNode()); err != nil {
		t.Fatal(err)
	}
	f.now = t0.Add(time.Minute)
	f.sync("default/p")
	if f.gone("p") {
		t.Error("pod deleted after its node's taint went")
	}
	if ev := f.events(); !strings.Contains(ev, "Normal TaintManagerEviction Cancelling deletion of Pod default/p") {
		t.Errorf("events = %q; want the cancellation", ev)
	}
}
