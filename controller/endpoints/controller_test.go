package endpoints

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

type fixture struct {
	t       *testing.T
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, o := range objs {
		f.store(o)
	}
	return f
}

func (f *fixture) store(o runtime.Object) {
	f.t.Helper()
	var err error
	switch o := o.(type) {
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetStore().Add(o)
	case *corev1.Service:
		err = f.factory.Core().V1().Services().Informer().GetStore().Add(o)
	case *corev1.Endpoints:
		err = f.factory.Core().V1().Endpoints().Informer().GetStore().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(key string) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) endpoints(name string) (*corev1.Endpoints, error) {
	return f.client.CoreV1().Endpoints("ns").Get(context.Background(), name, metav1.GetOptions{})
}

func TestSyncCreatesEndpoints(t *testing.T) {
	svc := testService(func(s *corev1.Service) { s.Labels = map[string]string{"tier": "front"}; s.Spec.ClusterIP = "None" })
	f := newFixture(t, svc, testPod("a", "10.0.0.1", true), testPod("b", "10.0.0.2", false))
	f.sync("ns/web")
	ep, err := f.endpoints("web")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(ep.Subsets), "{10.0.0.1 | 10.0.0.2 | http:8080/TCP}"; got != want {
		t.Errorf("subsets = %s; want %s", got, want)
	}
	a := ep.Subsets[0].Addresses[0]
	if a.NodeName == nil || *a.NodeName != "node1" || a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.TargetRef.UID != "uid-a" {
		t.Errorf("address = %+v; want nodeName and pod targetRef", a)
	}
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok || ep.Labels["tier"] != "front" {
		t.Errorf("labels = %v; want the Service's and the headless label", ep.Labels)
	}
	if got := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; got != "2025-01-01T00:00:00Z" {
		t.Errorf("trigger time = %q; want the Service's creation", got)
	}

	// Nothing changed: no write.
	ep.ResourceVersion = "1" // the fake clientset sets none
	f.store(ep)
	before := len(f.client.Actions())
	f.sync("ns/web")
	if n := len(f.client.Actions()) - before; n != 0 {
		t.Errorf("%d writes for an unchanged Service", n)
	}
}

func TestSyncLeavesSelectorlessAndExternalNameServices(t *testing.T) {
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.0.1"}}}}}
	f := newFixture(t,
		testService(func(s *corev1.Service) { s.Name = "manual"; s.Spec.Selector = nil }), manual,
		testService(func(s *corev1.Service) { s.Name = "ext"; s.Spec.Type = corev1.ServiceTypeExternalName }),
		testPod("a", "10.0.0.1", true))
	f.sync("ns/manual")
	f.sync("ns/ext")
	ep, err := f.endpoints("manual")
	if err != nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.168.0.1" {
		t.Errorf("manual endpoints = %+v, %v; want them untouched", ep, err)
	}
	if _, err := f.endpoints("ext"); !apierrors.IsNotFound(err) {
		t.Errorf("ExternalName service got endpoints: %v", err)
	}
}

func TestSyncDeletesEndpointsOfDeletedService(t *testing.T) {
	f := newFixture(t, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}})
	f.sync("ns/web")
	if _, err := f.endpoints("web"); !apierrors.IsNotFound(err) {
		t.Errorf("endpoints of a deleted Service: %v; want them deleted", err)
	}
}

func TestSyncTruncatesOverCapacity(t *testing.T) {
	objs := []runtime.Object{testService()}
	for i := 0; i < maxCapacity+5; i++ {
		objs = append(objs, testPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.1.%d.%d", i/256, i%256), true))
	}
	f := newFixture(t, objs...)
	f.sync("ns/web")
	ep, err := f.endpoints("web")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ep.Subsets[0].Addresses); n != maxCapacity {
		t.Errorf("%d addresses; want %d", n, maxCapacity)
	}
	if ep.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
		t.Errorf("annotations = %v; want over-capacity truncated", ep.Annotations)
	}
}

func TestStaleCacheIsRetried(t *testing.T) {
	svc := testService()
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", ResourceVersion: "5"}}
	f := newFixture(t, svc, ep, testPod("a", "10.0.0.1", true))
	f.c.stale["ns/web"] = "5"
	if err := f.c.sync(context.Background(), "ns/web"); err == nil {
		t.Error("sync with a cache older than the controller's last write succeeded")
	}
}
