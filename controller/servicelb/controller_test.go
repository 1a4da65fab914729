package servicelb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

// fakeProvider records calls and answers with status or err.
type fakeProvider struct {
	mu      sync.Mutex
	status  *corev1.LoadBalancerStatus
	err     error
	nodes   []string // of the last EnsureLoadBalancer
	ensured int
	deleted []string
}

func (p *fakeProvider) EnsureLoadBalancer(_ context.Context, _ *corev1.Service, nodes []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ensured++
	p.nodes = nil
	for _, n := range nodes {
		p.nodes = append(p.nodes, n.Name)
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.status.DeepCopy(), nil
}

func (p *fakeProvider) EnsureLoadBalancerDeleted(_ context.Context, svc *corev1.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deleted = append(p.deleted, svc.Name)
	return p.err
}

type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, p Provider, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return f.recorder },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, Config{Provider: p})
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
	case *corev1.Service:
		err = f.factory.Core().V1().Services().Informer().GetStore().Update(o)
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetStore().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs ns/name and refreshes the informer's copy from the client.
func (f *fixture) sync(name string) error {
	f.t.Helper()
	err := f.c.sync(context.Background(), "ns/"+name)
	if svc, getErr := f.client.CoreV1().Services("ns").Get(context.Background(), name, metav1.GetOptions{}); getErr == nil {
		f.store(svc)
	}
	return err
}

func (f *fixture) service(name string) *corev1.Service {
	f.t.Helper()
	svc, err := f.client.CoreV1().Services("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a.GetVerb()+":"+a.GetSubresource())
		}
	}
	f.client.ClearActions()
	return out
}

func drain(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func status(ips ...string) *corev1.LoadBalancerStatus {
	s := &corev1.LoadBalancerStatus{}
	for _, ip := range ips {
		s.Ingress = append(s.Ingress, corev1.LoadBalancerIngress{IP: ip, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)})
	}
	return s
}

// A LoadBalancer Service gets the finalizer, then its status, with
// Kubernetes' events; nothing is written again while nothing changes.
func TestEnsure(t *testing.T) {
	p := &fakeProvider{status: status("192.168.0.1")}
	f := newFixture(t, p, testService("web"), testNode("a", internalIP("192.168.0.1")))
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	svc := f.service("web")
	if !slices.Contains(svc.Finalizers, Finalizer) {
		t.Errorf("finalizers %v", svc.Finalizers)
	}
	if got := ips(&svc.Status.LoadBalancer); got != "192.168.0.1/VIP" {
		t.Errorf("status %q", got)
	}
	if got, want := f.writes(), []string{"patch:", "patch:status"}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v (finalizer first)", got, want)
	}
	if got, want := drain(f.recorder), []string{"Normal EnsuringLoadBalancer Ensuring load balancer", "Normal EnsuredLoadBalancer Ensured load balancer"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if got := f.writes(); len(got) != 0 {
		t.Errorf("second sync wrote %v", got)
	}
	if got := drain(f.recorder); len(got) != 0 {
		t.Errorf("second sync recorded %q", got)
	}

	// The nodes change the status: UpdatedLoadBalancer, no Ensuring.
	p.status = status("192.168.0.1", "192.168.0.2")
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if got := ips(&f.service("web").Status.LoadBalancer); got != "192.168.0.1/VIP,192.168.0.2/VIP" {
		t.Errorf("status %q", got)
	}
	if got, want := drain(f.recorder), []string{"Normal UpdatedLoadBalancer Updated load balancer with new hosts"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// No node left: warning and empty status.
	p.status = status()
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if got := f.service("web").Status.LoadBalancer.Ingress; len(got) != 0 {
		t.Errorf("status %v", got)
	}
	if got, want := drain(f.recorder), []string{"Warning UnAvailableLoadBalancer There are no available nodes for LoadBalancer"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// A spec change ensures again with events.
	svc = f.service("web")
	svc.Spec.Ports[0].Port = 8080
	f.store(svc)
	p.status = status("192.168.0.1")
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if got := drain(f.recorder); len(got) != 2 || !strings.Contains(got[0], "EnsuringLoadBalancer") {
		t.Errorf("events after a spec change %q", got)
	}
}

// The provider gets the nodes Kubernetes passes to load balancers.
func TestCandidateNodes(t *testing.T) {
	p := &fakeProvider{status: status()}
	f := newFixture(t, p, testService("web"),
		testNode("b"), testNode("a"), testNode("down", notReady),
		testNode("excluded", func(n *corev1.Node) {
			n.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
		}),
		testNode("autoscaled-away", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "ToBeDeletedByClusterAutoscaler", Effect: corev1.TaintEffectNoSchedule}}
		}),
		testNode("deleting", func(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }),
	)
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "down"}; !slices.Equal(p.nodes, want) {
		t.Errorf("nodes %v, want %v", p.nodes, want)
	}
}

// Type changed away from LoadBalancer: the load balancer is deleted, the
// finalizer removed, the status cleared.
func TestTypeChangedAway(t *testing.T) {
	p := &fakeProvider{status: status("192.168.0.1")}
	f := newFixture(t, p, testService("web"))
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	drain(f.recorder)
	svc := f.service("web")
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	svc.Finalizers = append(svc.Finalizers, "example.com/keep")
	if _, err := f.client.CoreV1().Services("ns").Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.store(svc)
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	svc = f.service("web")
	if !slices.Equal(svc.Finalizers, []string{"example.com/keep"}) {
		t.Errorf("finalizers %v: want ours removed, the other kept", svc.Finalizers)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("status not cleared: %v", svc.Status.LoadBalancer)
	}
	if !slices.Equal(p.deleted, []string{"web"}) {
		t.Errorf("provider deletions %v", p.deleted)
	}
	if got, want := drain(f.recorder), []string{"Normal DeletingLoadBalancer Deleting load balancer", "Normal DeletedLoadBalancer Deleted load balancer"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// Nothing more to do afterwards.
	f.writes()
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if got := f.writes(); len(got) != 0 {
		t.Errorf("writes %v", got)
	}
}

// A Service being deleted has its load balancer deleted before the
// finalizer goes.
func TestDeletion(t *testing.T) {
	p := &fakeProvider{status: status("192.168.0.1")}
	svc := testService("web", func(s *corev1.Service) {
		s.Finalizers = []string{Finalizer}
		s.DeletionTimestamp = &metav1.Time{}
	})
	f := newFixture(t, p, svc)
	var order []string
	f.client.PrependReactor("patch", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		order = append(order, "patch:"+a.GetSubresource())
		return false, nil, nil
	})
	p.err = errors.New("cloud down")
	if err := f.c.sync(context.Background(), "ns/web"); err == nil {
		t.Fatal("provider error not returned")
	}
	if len(order) != 0 {
		t.Fatalf("finalizer removed although the load balancer was not deleted: %v", order)
	}
	if got := drain(f.recorder); len(got) != 2 || got[1] != "Warning DeleteLoadBalancerFailed Error deleting load balancer: cloud down" {
		t.Errorf("events %q", got)
	}
	p.err = nil
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(order) == 0 || order[0] != "patch:" {
		t.Errorf("patches %v", order)
	}
	if got := f.service("web").Finalizers; len(got) != 0 {
		t.Errorf("finalizers %v", got)
	}
}

// Services with a loadBalancerClass, and other types, are not touched.
func TestLeavesOthersAlone(t *testing.T) {
	p := &fakeProvider{status: status("192.168.0.1")}
	f := newFixture(t, p,
		testService("classy", func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
			s.Status.LoadBalancer = *status("203.0.113.9")
		}),
		testService("plain", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }),
	)
	for _, n := range []string{"classy", "plain"} {
		if err := f.sync(n); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.writes(); len(got) != 0 {
		t.Errorf("writes %v", got)
	}
	if p.ensured != 0 || len(p.deleted) != 0 {
		t.Errorf("provider called: %d ensures, deletions %v", p.ensured, p.deleted)
	}
	if got := drain(f.recorder); len(got) != 0 {
		t.Errorf("events %q", got)
	}
}

// Provider errors: a warning event, the error returned for a retry.
func TestEnsureError(t *testing.T) {
	p := &fakeProvider{err: errors.New("quota exceeded")}
	f := newFixture(t, p, testService("web"))
	if err := f.sync("web"); err == nil {
		t.Fatal("no error")
	}
	got := drain(f.recorder)
	if len(got) != 2 || got[1] != "Warning SyncLoadBalancerFailed Error syncing load balancer: quota exceeded" {
		t.Errorf("events %q", got)
	}
}

// A Service deleted without the finalizer has its load balancer deleted
// from its last known state.
func TestDeletedWithoutFinalizer(t *testing.T) {
	p := &fakeProvider{status: status("192.168.0.1")}
	f := newFixture(t, p, testService("web"))
	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	if err := f.factory.Core().V1().Services().Informer().GetStore().Delete(f.service("web")); err != nil {
		t.Fatal(err)
	}
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.deleted, []string{"web"}) {
		t.Errorf("provider deletions %v", p.deleted)
	}
	// Only once.
	if err := f.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(p.deleted) != 1 {
		t.Errorf("provider deletions %v", p.deleted)
	}
}

// Node changes that matter queue every LoadBalancer Service; heartbeats
// do not.
func TestNodeState(t *testing.T) {
	a := testNode("a", internalIP("192.168.0.1"))
	heartbeat := a.DeepCopy()
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	heartbeat.ResourceVersion = "2"
	if nodeState(a) != nodeState(heartbeat) {
		t.Error("a heartbeat changes the node's state")
	}
	for name, change := range map[string]nodeOpt{
		"not ready": notReady, "cordoned": cordoned, "address": internalIP("192.168.0.9"),
		"excluded": func(n *corev1.Node) { n.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: "true"} },
	} {
		b := a.DeepCopy()
		change(b)
		if nodeState(a) == nodeState(b) {
			t.Errorf("%s: state unchanged", name)
		}
	}
}
