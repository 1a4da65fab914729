package dnsendpoints

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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

func newFixture(t *testing.T, cfg Config, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, cfg)
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
	case *corev1.Endpoints:
		err = f.factory.Core().V1().Endpoints().Informer().GetStore().Update(o)
	case *discoveryv1.EndpointSlice:
		err = f.factory.Discovery().V1().EndpointSlices().Informer().GetStore().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs and copies the client's slices and Endpoints into the caches.
func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), ""); err != nil {
		f.t.Fatal(err)
	}
	ctx := context.Background()
	slices, err := f.client.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	sliceStore := f.factory.Discovery().V1().EndpointSlices().Informer().GetStore()
	var objs []interface{}
	for i := range slices.Items {
		objs = append(objs, &slices.Items[i])
	}
	if err := sliceStore.Replace(objs, ""); err != nil {
		f.t.Fatal(err)
	}
	if ep, err := f.client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil {
		f.store(ep)
	}
}

func (f *fixture) slices() []discoveryv1.EndpointSlice {
	f.t.Helper()
	l, err := f.client.DiscoveryV1().EndpointSlices("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return l.Items
}

func (f *fixture) writes() int {
	n := 0
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			n++
		}
	}
	f.client.ClearActions()
	return n
}

func dnsService(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", UID: "dns-uid",
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true"}},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.10", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func node(name, cidr string, ready bool, mutate ...func(*corev1.Node)) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: cidr},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
	if cidr != "" {
		n.Spec.PodCIDRs = []string{cidr}
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

// summary is "node=addr/ready[/zone]" of a slice's endpoints.
func summary(s discoveryv1.EndpointSlice) []string {
	var out []string
	for _, e := range s.Endpoints {
		v := fmt.Sprintf("%s=%s/%v", *e.NodeName, e.Addresses[0], *e.Conditions.Ready)
		if *e.Conditions.Serving != *e.Conditions.Ready || *e.Conditions.Terminating {
			v += "/bad-conditions"
		}
		if e.Zone != nil {
			v += "/" + *e.Zone
		}
		out = append(out, v)
	}
	return out
}

func TestDNSAddress(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.42.1.0/24": "10.42.1.1", "10.42.1.7/24": "10.42.1.1", "10.42.0.0/16": "10.42.0.1", "fd00:42:0:1::/64": "fd00:42:0:1::1",
	} {
		if got := DNSAddress(netip.MustParsePrefix(cidr)).String(); got != want {
			t.Errorf("DNSAddress(%s) = %s, want %s", cidr, got, want)
		}
	}
}

func TestEndpointsAtNodes(t *testing.T) {
	f := newFixture(t, Config{}, dnsService(nil),
		node("b", "10.42.1.0/24", false),
		node("a", "10.42.0.0/24", true, func(n *corev1.Node) { n.Labels = map[string]string{corev1.LabelTopologyZone: "z1"} }),
		node("no-cidr", "", true),
		node("going", "10.42.2.0/24", true, func(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }),
		node("v6-only", "fd00::/64", true),
	)
	f.sync()
	got := f.slices()
	if len(got) != 1 {
		t.Fatalf("%d slices", len(got))
	}
	s := got[0]
	if want := []string{"a=10.42.0.1/true/z1", "b=10.42.1.1/false"}; !slices.Equal(summary(s), want) {
		t.Errorf("endpoints %v, want %v", summary(s), want)
	}
	if s.Name != "kube-dns" || s.AddressType != discoveryv1.AddressTypeIPv4 ||
		s.Labels[discoveryv1.LabelServiceName] != "kube-dns" || s.Labels[discoveryv1.LabelManagedBy] != "berth-dns" || s.Labels["k8s-app"] != "kube-dns" {
		t.Errorf("slice %s type %s labels %v", s.Name, s.AddressType, s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "dns-uid" || !*s.OwnerReferences[0].Controller {
		t.Errorf("owner %+v", s.OwnerReferences)
	}
	var ports []string
	for _, p := range s.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d/%s", *p.Name, *p.Port, *p.Protocol))
	}
	if want := []string{"dns:53/UDP", "dns-tcp:53/TCP"}; !slices.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}

	ep, err := f.client.CoreV1().Endpoints("kube-system").Get(context.Background(), "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Labels[discoveryv1.LabelSkipMirror] != "true" || len(ep.Subsets) != 1 {
		t.Fatalf("endpoints %+v", ep)
	}
	sub := ep.Subsets[0]
	if len(sub.Addresses) != 1 || sub.Addresses[0].IP != "10.42.0.1" || *sub.Addresses[0].NodeName != "a" ||
		len(sub.NotReadyAddresses) != 1 || sub.NotReadyAddresses[0].IP != "10.42.1.1" || len(sub.Ports) != 2 {
		t.Errorf("subset %+v", sub)
	}

	f.writes()
	f.sync()
	if n := f.writes(); n != 0 {
		t.Errorf("%d writes on an unchanged sync", n)
	}

	// b becomes ready.
	f.store(node("b", "10.42.1.0/24", true))
	f.sync()
	if want := []string{"a=10.42.0.1/true/z1", "b=10.42.1.1/true"}; !slices.Equal(summary(f.slices()[0]), want) {
		t.Errorf("endpoints %v, want %v", summary(f.slices()[0]), want)
	}
}

func TestSlicesSplitAndShrink(t *testing.T) {
	objs := []runtime.Object{dnsService(nil)}
	for i := range 5 {
		objs = append(objs, node(fmt.Sprintf("n%d", i), fmt.Sprintf("10.42.%d.0/24", i), true))
	}
	f := newFixture(t, Config{MaxEndpointsPerSlice: 2}, objs...)
	f.sync()
	var names []string
	total := 0
	for _, s := range f.slices() {
		names = append(names, s.Name)
		total += len(s.Endpoints)
	}
	slices.Sort(names)
	if want := []string{"kube-dns", "kube-dns-1", "kube-dns-2"}; !slices.Equal(names, want) || total != 5 {
		t.Fatalf("slices %v with %d endpoints", names, total)
	}
	for i := 1; i < 5; i++ {
		if err := f.factory.Core().V1().Nodes().Informer().GetStore().Delete(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	if got := f.slices(); len(got) != 1 || len(got[0].Endpoints) != 1 {
		t.Errorf("after shrinking: %d slices", len(got))
	}
}

// A selector hands kube-dns over to the endpoint controllers; no Service,
// no slices.
func TestSelectorOrNoService(t *testing.T) {
	f := newFixture(t, Config{}, dnsService(nil), node("a", "10.42.0.0/24", true))
	f.sync()
	if len(f.slices()) != 1 {
		t.Fatal("no slice")
	}
	f.store(dnsService(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"k8s-app": "kube-dns"} }))
	f.sync()
	if got := f.slices(); len(got) != 0 {
		t.Errorf("%d slices left with a selector", len(got))
	}
	if _, err := f.client.CoreV1().Endpoints("kube-system").Get(context.Background(), "kube-dns", metav1.GetOptions{}); err != nil {
		t.Errorf("endpoints: %v (left to the endpoints controller)", err)
	}
	f.store(dnsService(nil))
	f.sync()
	if len(f.slices()) != 1 {
		t.Fatal("no slice after the selector went")
	}
	if err := f.factory.Core().V1().Services().Informer().GetStore().Delete(dnsService(nil)); err != nil {
		t.Fatal(err)
	}
	f.sync()
	if got := f.slices(); len(got) != 0 {
		t.Errorf("%d slices without the Service", len(got))
	}
	// Others' slices of the name are left alone.
	other := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-abcde", Namespace: "kube-system",
		Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4}
	if _, err := f.client.DiscoveryV1().EndpointSlices("kube-system").Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.store(other)
	f.sync()
	if _, err := f.client.DiscoveryV1().EndpointSlices("kube-system").Get(context.Background(), other.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Error("another controller's slice was deleted")
	}
}
