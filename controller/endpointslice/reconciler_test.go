package endpointslice

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
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
	t.Helper()
	f := &fixture{t: t, client: fake.NewSimpleClientset(objs...)}
	// The fake clientset knows neither generateName nor generations.
	n := 0
	f.client.PrependReactor("create", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if s.Name == "" {
			n++
			s.Name = fmt.Sprintf("%s%05d", s.GenerateName, n)
			s.UID = types.UID(s.Name)
		}
		s.Generation = 1
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      time.Now,
	}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.refresh()
	return f
}

// refresh copies the clientset's objects into the informers' stores.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	set := func(store cache.Store, list runtime.Object) {
		items, err := metaItems(list)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := store.Replace(items, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	svcs, _ := f.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	nodes, _ := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	slices, _ := f.client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	set(f.factory.Core().V1().Services().Informer().GetStore(), svcs)
	set(f.factory.Core().V1().Pods().Informer().GetStore(), pods)
	set(f.factory.Core().V1().Nodes().Informer().GetStore(), nodes)
	set(f.factory.Discovery().V1().EndpointSlices().Informer().GetStore(), slices)
}

func metaItems(list runtime.Object) ([]interface{}, error) {
	var out []interface{}
	switch l := list.(type) {
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.PodList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.NodeList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *discoveryv1.EndpointSliceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("unexpected %T", list)
	}
	return out, nil
}

func (f *fixture) sync() error {
	err := f.c.sync(context.Background(), "ns/web")
	f.refresh()
	return err
}

func (f *fixture) mustSync() {
	f.t.Helper()
	if err := f.sync(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) slices() []discoveryv1.EndpointSlice {
	f.t.Helper()
	l, err := f.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

// writes counts create/update/delete actions on slices since mark.
func (f *fixture) writes(mark int) map[string]int {
	out := map[string]int{}
	for _, a := range f.client.Actions()[mark:] {
		if a.GetResource().Resource == "endpointslices" && a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			out[a.GetVerb()]++
		}
	}
	return out
}

func service(mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"tier": "front"},
			CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func node(name, zone string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
}

func pod(i int, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	s := corev1.ConditionFalse
	if ready {
		s = corev1.ConditionTrue
	}
	ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("uid-%d", i)), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestSliceContents(t *testing.T) {
	now := metav1.Now()
	f := newFixture(t, service(), node("n1", "zone-a"),
		pod(1, true), pod(2, false),
		pod(3, true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod(4, true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }))
	f.mustSync()
	slices := f.slices()
	if len(slices) != 1 {
		t.Fatalf("%d slices; want 1", len(slices))
	}
	s := slices[0]
	if s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("generateName %q addressType %q", s.GenerateName, s.AddressType)
	}
	if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["tier"] != "front" {
		t.Errorf("labels = %v", s.Labels)
	}
	if _, ok := s.Labels[corev1.IsHeadlessService]; ok {
		t.Error("headless label on a Service with a cluster IP")
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Service" || s.OwnerReferences[0].UID != "svc-uid" ||
		s.OwnerReferences[0].Controller == nil || !*s.OwnerReferences[0].Controller {
		t.Errorf("ownerReferences = %+v", s.OwnerReferences)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Name != "http" || *s.Ports[0].Port != 8080 || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports = %+v", s.Ports)
	}
	type conds struct{ ready, serving, terminating bool }
	want := map[string]conds{"p001": {true, true, false}, "p002": {false, false, false}, "p003": {false, true, true}}
	if len(s.Endpoints) != len(want) {
		t.Fatalf("%d endpoints; want %d (the failed pod left out)", len(s.Endpoints), len(want))
	}
	for _, ep := range s.Endpoints {
		w, ok := want[ep.TargetRef.Name]
		got := conds{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
		if !ok || got != w {
			t.Errorf("endpoint %s conditions = %+v; want %+v", ep.TargetRef.Name, got, w)
		}
		if ep.NodeName == nil || *ep.NodeName != "n1" || ep.Zone == nil || *ep.Zone != "zone-a" || ep.TargetRef.Kind != "Pod" {
			t.Errorf("endpoint %s node/zone/target = %v %v %+v", ep.TargetRef.Name, ep.NodeName, ep.Zone, ep.TargetRef)
		}
	}
	if s.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Error("no last-change-trigger-time annotation")
	}
}

func TestSlicesAreFilledAndUpdatedInPlace(t *testing.T) {
	objs := []runtime.Object{service(), node("n1", "")}
	for i := 0; i < 250; i++ {
		objs = append(objs, pod(i, true))
	}
	f := newFixture(t, objs...)
	f.mustSync()
	var sizes []int
	for _, s := range f.slices() {
		sizes = append(sizes, len(s.Endpoints))
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[50 100 100]" {
		t.Fatalf("slice sizes = %v; want [50 100 100]", sizes)
	}

	// One pod goes not ready, another is deleted: one or two slices are
	// updated, none created or deleted.
	mark := len(f.client.Actions())
	p := pod(7, false)
	if _, err := f.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.client.CoreV1().Pods("ns").Delete(context.Background(), "p200", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.mustSync()
	w := f.writes(mark)
	if w["create"] != 0 || w["delete"] != 0 || w["update"] < 1 || w["update"] > 2 {
		t.Errorf("writes = %v; want 1-2 updates only", w)
	}
	total := 0
	for _, s := range f.slices() {
		total += len(s.Endpoints)
		for _, ep := range s.Endpoints {
			if ep.TargetRef.Name == "p007" && *ep.Conditions.Ready {
				t.Error("p007 still ready")
			}
		}
	}
	if total != 249 {
		t.Errorf("%d endpoints; want 249", total)
	}

	// A new pod fits into an existing slice.
	mark = len(f.client.Actions())
	if _, err := f.client.CoreV1().Pods("ns").Create(context.Background(), pod(300, true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.mustSync()
	if w := f.writes(mark); w["create"] != 0 || w["update"] != 1 {
		t.Errorf("writes = %v; want one update", w)
	}

	// Nothing changed: nothing written.
	mark = len(f.client.Actions())
	f.mustSync()
	if w := f.writes(mark); len(w) != 0 {
		t.Errorf("writes for no change = %v", w)
	}
}

func TestPlaceholderSlice(t *testing.T) {
	f := newFixture(t, service(func(s *corev1.Service) { s.Spec.ClusterIP = "None" }), node("n1", ""))
	f.mustSync()
	slices := f.slices()
	if len(slices) != 1 || len(slices[0].Endpoints) != 0 || len(slices[0].Ports) != 0 {
		t.Fatalf("slices = %+v; want one empty placeholder", slices)
	}
	if _, ok := slices[0].Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("labels = %v; want the headless label", slices[0].Labels)
	}
	mark := len(f.client.Actions())
	f.mustSync()
	if w := f.writes(mark); len(w) != 0 {
		t.Errorf("the placeholder was rewritten: %v", w)
	}
	// A pod arrives: the placeholder is reused.
	if _, err := f.client.CoreV1().Pods("ns").Create(context.Background(), pod(1, true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.mustSync()
	after := f.slices()
	if len(after) != 1 || after[0].Name != slices[0].Name || len(after[0].Endpoints) != 1 {
		t.Errorf("slices = %d (%s); want the placeholder reused with one endpoint", len(after), after[0].Name)
	}
}

func TestPortSetsGetTheirOwnSlices(t *testing.T) {
	f := newFixture(t, service(), node("n1", ""), pod(1, true),
		pod(2, true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }))
	f.mustSync()
	ports := map[int32]int{}
	for _, s := range f.slices() {
		ports[*s.Ports[0].Port] += len(s.Endpoints)
	}
	if ports[8080] != 1 || ports[9090] != 1 {
		t.Errorf("endpoints by port = %v; want one slice per port", ports)
	}
}

func TestPodOnMissingNodeIsSkipped(t *testing.T) {
	f := newFixture(t, service(), node("n1", ""), pod(1, true), pod(2, true, func(p *corev1.Pod) { p.Spec.NodeName = "gone" }))
	if err := f.sync(); err == nil {
		t.Error("sync succeeded with a pod on a missing node; want a retry")
	}
	slices := f.slices()
	if len(slices) != 1 || len(slices[0].Endpoints) != 1 || slices[0].Endpoints[0].TargetRef.Name != "p001" {
		t.Errorf("slices = %+v; want p001 only", slices)
	}
}

func TestPreferCloseHints(t *testing.T) {
	pc := corev1.ServiceTrafficDistributionPreferClose
	f := newFixture(t, service(func(s *corev1.Service) { s.Spec.TrafficDistribution = &pc }), node("n1", "zone-a"), pod(1, true), pod(2, false))
	f.mustSync()
	for _, ep := range f.slices()[0].Endpoints {
		ready := *ep.Conditions.Ready
		hinted := ep.Hints != nil && len(ep.Hints.ForZones) == 1 && ep.Hints.ForZones[0].Name == "zone-a"
		if ready != hinted {
			t.Errorf("endpoint %s ready=%v hints=%+v; ready endpoints get their zone", ep.TargetRef.Name, ready, ep.Hints)
		}
	}
}

func TestSelectorlessServiceIsLeftAlone(t *testing.T) {
	f := newFixture(t, service(func(s *corev1.Service) { s.Spec.Selector = nil }), pod(1, true))
	f.mustSync()
	if n := len(f.slices()); n != 0 {
		t.Errorf("%d slices for a Service without selector", n)
	}
}
