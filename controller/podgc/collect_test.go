package podgc

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"berth/controller"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func evicted(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }
func terminating(p *corev1.Pod) {
	ts := metav1.NewTime(t0)
	p.DeletionTimestamp = &ts
}
func age(minutes int) podOpt {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Duration(minutes) * time.Minute))
	}
}

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func node(name string, isReady bool, taints ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	status := corev1.ConditionFalse
	if isReady {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
	for _, k := range taints {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoExecute})
	}
	return n
}

func TestCollect(t *testing.T) {
	outOfService := corev1.TaintNodeOutOfService
	for _, tc := range []struct {
		name      string
		threshold int
		pods      []*corev1.Pod
		nodes     []*corev1.Node
		// deleted are the pods force-deleted, in any order.
		deleted []string
		// failed are the pods marked Failed first.
		failed []string
	}{
		{
			name:      "terminated beyond the threshold: evicted, then oldest",
			threshold: 2,
			pods: []*corev1.Pod{
				pod("old", phase(corev1.PodSucceeded), age(30)),
				pod("older", phase(corev1.PodFailed), age(40)),
				pod("new", phase(corev1.PodSucceeded), age(1)),
				pod("evicted", evicted, age(0)),
				pod("running", age(100)),
			},
			deleted: []string{"evicted", "older"},
		},
		{
			name:      "terminated within the threshold",
			threshold: 5,
			pods:      []*corev1.Pod{pod("a", phase(corev1.PodSucceeded)), pod("b", phase(corev1.PodFailed))},
		},
		{
			name:      "collecting terminated pods disabled",
			threshold: -1,
			pods:      []*corev1.Pod{pod("a", phase(corev1.PodSucceeded)), pod("b", phase(corev1.PodFailed))},
		},
		{
			name:    "orphans of a deleted node",
			pods:    []*corev1.Pod{pod("here", onNode("n1")), pod("gone", onNode("n2")), pod("gone-done", onNode("n2"), phase(corev1.PodSucceeded)), pod("pending")},
			nodes:   []*corev1.Node{node("n1", true)},
			deleted: []string{"gone", "gone-done"},
			failed:  []string{"gone"},
		},
		{
			name:    "unscheduled terminating",
			pods:    []*corev1.Pod{pod("a", terminating), pod("b")},
			deleted: []string{"a"},
			failed:  []string{"a"},
		},
		{
			name: "terminating on an out-of-service node",
			pods: []*corev1.Pod{
				pod("oos", onNode("n1"), terminating), pod("oos-running", onNode("n1")),
				pod("tainted-ready", onNode("n2"), terminating), pod("not-ready", onNode("n3"), terminating),
			},
			nodes:   []*corev1.Node{node("n1", false, outOfService), node("n2", true, outOfService), node("n3", false)},
			deleted: []string{"oos"},
			failed:  []string{"oos"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			for _, n := range tc.nodes {
				objs = append(objs, n)
			}
			client := fake.NewClientset(objs...)
			s := &controller.Shared{
				Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
				Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 },
			}
			c, err := newController(s, Config{TerminatedPodThreshold: tc.threshold, QuarantineTime: -1})
			if err == nil {
				t.Fatal("negative quarantine accepted")
			}
			c, err = newController(s, Config{TerminatedPodThreshold: tc.threshold, QuarantineTime: time.Nanosecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.quarantine.ShutDown()
			// A missing node counts as gone once its quarantine has
			// passed, on a later pass.
			c.collect(context.Background(), tc.pods, tc.nodes)
			time.Sleep(10 * time.Millisecond)
			c.collect(context.Background(), tc.pods, tc.nodes)

			var deleted, failed []string
			for _, a := range client.Actions() {
				switch a := a.(type) {
				case clienttesting.DeleteAction:
					if a.GetResource().Resource == "pods" {
						deleted = append(deleted, a.GetName())
					}
				case clienttesting.PatchAction:
					if a.GetSubresource() == "status" {
						failed = append(failed, a.GetName())
					}
				}
			}
			// Both passes see the same (stale) pods: count each once.
			slices.Sort(deleted)
			deleted = slices.Compact(deleted)
			slices.Sort(failed)
			failed = slices.Compact(failed)
			slices.Sort(tc.deleted)
			slices.Sort(tc.failed)
			if !slices.Equal(deleted, tc.deleted) {
				t.Errorf("deleted %v, want %v", deleted, tc.deleted)
			}
			if !slices.Equal(failed, tc.failed) {
				t.Errorf("marked failed %v, want %v", failed, tc.failed)
			}
		})
	}
}

// An orphaned pod is marked Failed with the DisruptionTarget condition.
func TestOrphanCondition(t *testing.T) {
	p := pod("gone", onNode("n2"))
	client := fake.NewClientset(p)
	s := &controller.Shared{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Now: func() time.Time { return t0 }}
	c, err := newController(s, Config{QuarantineTime: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.quarantine.ShutDown()
	// Keep the pod: only look at the status patch.
	client.PrependReactor("delete", "pods", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, nil })
	c.collect(context.Background(), []*corev1.Pod{p}, nil)
	time.Sleep(10 * time.Millisecond)
	c.collect(context.Background(), []*corev1.Pod{p}, nil)
	got, err := client.CoreV1().Pods("ns").Get(context.Background(), "gone", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodFailed {
		t.Errorf("phase %s", got.Status.Phase)
	}
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByPodGC",
		Message: "PodGC: node no longer exists", LastTransitionTime: metav1.NewTime(t0),
	}
	if len(got.Status.Conditions) != 1 || !got.Status.Conditions[0].LastTransitionTime.Equal(&want.LastTransitionTime) ||
		got.Status.Conditions[0].Reason != want.Reason || got.Status.Conditions[0].Message != want.Message ||
		got.Status.Conditions[0].Type != want.Type || got.Status.Conditions[0].Status != want.Status {
		t.Errorf("conditions %+v, want %+v", got.Status.Conditions, want)
	}
}

func TestStatusPatch(t *testing.T) {
	p, err := statusPatch("u1", corev1.PodStatus{Phase: corev1.PodRunning}, corev1.PodStatus{Phase: corev1.PodFailed})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"metadata":{"uid":"u1"},"status":{"phase":"Failed"}}`; string(p) != want {
		t.Errorf("patch %s, want %s", p, want)
	}
}
