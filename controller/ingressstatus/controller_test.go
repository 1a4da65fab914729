package ingressstatus

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/ingress"
)

type fixture struct {
	t       *testing.T
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, Config{})
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
	case *networkingv1.Ingress:
		err = f.factory.Networking().V1().Ingresses().Informer().GetStore().Update(o)
	case *networkingv1.IngressClass:
		err = f.factory.Networking().V1().IngressClasses().Informer().GetStore().Update(o)
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetStore().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(name string) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "ns/"+name); err != nil {
		f.t.Fatal(err)
	}
	if ing, err := f.client.NetworkingV1().Ingresses("ns").Get(context.Background(), name, metav1.GetOptions{}); err == nil {
		f.store(ing)
	}
}

func (f *fixture) addresses(name string) []string {
	f.t.Helper()
	ing, err := f.client.NetworkingV1().Ingresses("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, i := range ing.Status.LoadBalancer.Ingress {
		out = append(out, i.IP)
	}
	return out
}

func node(name string, ready bool, ips ...string) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"})
	return n
}

func ing(name string, mutate func(*networkingv1.Ingress)) *networkingv1.Ingress {
	i := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	if mutate != nil {
		mutate(i)
	}
	return i
}

func class(name, ctrl string, isDefault bool) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: ctrl}}
	if isDefault {
		ic.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return ic
}

func className(n string) func(*networkingv1.Ingress) {
	return func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To(n) }
}

func legacy(n string) func(*networkingv1.Ingress) {
	return func(i *networkingv1.Ingress) { i.Annotations = map[string]string{"kubernetes.io/ingress.class": n} }
}

// The defaults are the class the agents' ingress controller serves.
func TestDefaultsMatchIngressController(t *testing.T) {
	if DefaultClassName != ingress.DefaultClassName || DefaultController != ingress.DefaultControllerName {
		t.Errorf("class %q controller %q; the ingress controller serves %q %q",
			DefaultClassName, DefaultController, ingress.DefaultClassName, ingress.DefaultControllerName)
	}
}

func TestWhichIngresses(t *testing.T) {
	for _, tt := range []struct {
		name    string
		classes []runtime.Object
		ing     *networkingv1.Ingress
		ours    bool
	}{
		{"class berth", nil, ing("a", className("berth")), true},
		{"other class", nil, ing("a", className("nginx")), false},
		{"no class, no default", []runtime.Object{class("berth", DefaultController, false)}, ing("a", nil), false},
		{"no class, berth default", []runtime.Object{class("berth", DefaultController, true)}, ing("a", nil), true},
		{"no class, other default", []runtime.Object{class("nginx", "k8s.io/ingress-nginx", true)}, ing("a", nil), false},
		{"legacy annotation", nil, ing("a", legacy("berth")), true},
		{"legacy annotation wins", nil, ing("a", func(i *networkingv1.Ingress) { legacy("nginx")(i); className("berth")(i) }), false},
		{"class of our controller", []runtime.Object{class("edge", DefaultController, false)}, ing("a", className("edge")), true},
		{"default class of our controller", []runtime.Object{class("edge", DefaultController, true)}, ing("a", nil), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := append([]runtime.Object{tt.ing, node("n1", true, "192.168.0.1")}, tt.classes...)
			f := newFixture(t, objs...)
			f.sync("a")
			got := f.addresses("a")
			if tt.ours && !slices.Equal(got, []string{"192.168.0.1"}) {
				t.Errorf("status %v, want the node's InternalIP", got)
			}
			if !tt.ours && len(got) != 0 {
				t.Errorf("another class's ingress got status %v", got)
			}
		})
	}
}

func TestStatusFollowsNodes(t *testing.T) {
	f := newFixture(t, ing("web", className("berth")),
		node("b", true, "192.168.0.2"), node("a", true, "192.168.0.10", "192.168.0.1"), node("down", false, "192.168.0.3"))
	f.sync("web")
	if got, want := f.addresses("web"), []string{"192.168.0.1", "192.168.0.2", "192.168.0.10"}; !slices.Equal(got, want) {
		t.Errorf("status %v, want %v (Ready nodes' InternalIPs, sorted)", got, want)
	}
	// Unchanged: no write.
	f.client.ClearActions()
	f.sync("web")
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("status written again without a change")
		}
	}
	f.store(node("down", true, "192.168.0.3"))
	f.store(node("a", false, "192.168.0.10", "192.168.0.1"))
	f.sync("web")
	if got, want := f.addresses("web"), []string{"192.168.0.2", "192.168.0.3"}; !slices.Equal(got, want) {
		t.Errorf("status %v, want %v", got, want)
	}
	for _, n := range []string{"b", "down"} {
		if err := f.factory.Core().V1().Nodes().Informer().GetStore().Delete(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	f.sync("web")
	if got := f.addresses("web"); len(got) != 0 {
		t.Errorf("status %v without ready nodes", got)
	}
}
