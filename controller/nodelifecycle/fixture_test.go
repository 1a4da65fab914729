package nodelifecycle

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

// fixture runs the controller's passes by hand against a fake clientset,
// on a fake clock, copying the clientset's objects into the informers'
// stores before each pass.
type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	now      time.Time
}

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...), recorder: record.NewFakeRecorder(100), now: t0}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	s := &controller.Shared{
		Client:    f.client,
		Informers: f.factory,
		Recorder:  func(string) record.EventRecorder { return f.recorder },
		Options:   controller.Options{NodeMonitorGracePeriod: 40 * time.Second, Workers: 2},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:       func() time.Time { return f.now },
	}
	c, err := newController(s, Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.refresh()
	return f
}

// refresh copies the clientset's nodes, leases and pods into the stores.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	nodes, err := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	leases, err := f.client.CoordinationV1().Leases("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	replace := func(store cache.Store, objs []interface{}) {
		if err := store.Replace(objs, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	var o []interface{}
	for i := range nodes.Items {
		o = append(o, &nodes.Items[i])
	}
	replace(f.factory.Core().V1().Nodes().Informer().GetStore(), o)
	o = nil
	for i := range leases.Items {
		o = append(o, &leases.Items[i])
	}
	replace(f.factory.Coordination().V1().Leases().Informer().GetStore(), o)
	o = nil
	for i := range pods.Items {
		o = append(o, &pods.Items[i])
	}
	replace(f.factory.Core().V1().Pods().Informer().GetStore(), o)
}

// pass advances the clock by d and runs a monitor pass and a taint pass.
func (f *fixture) pass(d time.Duration) {
	f.t.Helper()
	f.now = f.now.Add(d)
	f.refresh()
	if err := f.c.monitorNodeHealth(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
	f.c.taintPass(context.Background())
	f.refresh()
}

func (f *fixture) node(name string) *corev1.Node {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// heartbeat renews a node's lease at the fixture's time.
func (f *fixture) heartbeat(name string) {
	f.t.Helper()
	l, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: f.now}
	if _, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// events drains the recorded events.
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

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func readyNode(name string, at time.Time, labels map[string]string) *corev1.Node {
	ts := metav1.NewTime(at)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels, CreationTimestamp: ts},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: ts, LastTransitionTime: ts},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts},
		}},
	}
}

func nodeLease(name string, at time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: at}},
	}
}

func readyPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

func taintKeys(taints []corev1.Taint) []string {
	var out []string
	for _, t := range taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}
