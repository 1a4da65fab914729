package ingress

import (
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"

	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

// Object builders shared by the tests.

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type ingressOpt func(*networkingv1.Ingress)

func newIngress(ns, name string, age int, opts ...ingressOpt) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Namespace:         ns,
		Name:              name,
		CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute)),
	}}
	for _, o := range opts {
		o(ing)
	}
	return ing
}

func className(c string) ingressOpt {
	return func(i *networkingv1.Ingress) { i.Spec.IngressClassName = &c }
}

func legacyClass(c string) ingressOpt {
	return func(i *networkingv1.Ingress) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations[legacyClassAnnotation] = c
	}
}

func withRule(host string, paths ...networkingv1.HTTPIngressPath) ingressOpt {
	return func(i *networkingv1.Ingress) {
		i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{
			Host:             host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
		})
	}
}

func withDefault(svc string, port int32) ingressOpt {
	return func(i *networkingv1.Ingress) { i.Spec.DefaultBackend = svcBackend(svc, port) }
}

func withTLS(secret string, hosts ...string) ingressOpt {
	return func(i *networkingv1.Ingress) {
		i.Spec.TLS = append(i.Spec.TLS, networkingv1.IngressTLS{Hosts: hosts, SecretName: secret})
	}
}

func svcBackend(svc string, port int32) *networkingv1.IngressBackend {
	return &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: svc, Port: networkingv1.ServiceBackendPort{Number: port},
	}}
}

// path makes a path of type typ ("Exact", "Prefix", "ImplementationSpecific")
// to svc on port 80.
func path(typ, p, svc string) networkingv1.HTTPIngressPath {
	pt := networkingv1.PathType(typ)
	return networkingv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: *svcBackend(svc, 80)}
}

// namedPath routes to the Service port called portName.
func namedPath(typ, p, svc, portName string) networkingv1.HTTPIngressPath {
	hp := path(typ, p, svc)
	hp.Backend.Service.Port = networkingv1.ServiceBackendPort{Name: portName}
	return hp
}

func newService(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: ports, Type: corev1.ServiceTypeClusterIP},
	}
}

type endpoint struct {
	ip          string
	ready       *bool
	terminating bool
}

func ready(ip string) endpoint    { return endpoint{ip: ip, ready: ptr(true)} }
func notReady(ip string) endpoint { return endpoint{ip: ip, ready: ptr(false)} }

func ptr[T any](v T) *T { return &v }

// newSlice makes an EndpointSlice of the Service svc with one port
// (portName, port) and the endpoints.
func newSlice(ns, name, svc, portName string, port int32, eps ...endpoint) *discoveryv1.EndpointSlice {
	at := discoveryv1.AddressTypeIPv4
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		if net.ParseIP(e.ip).To4() == nil {
			at = discoveryv1.AddressTypeIPv6
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Terminating: &e.terminating},
		})
	}
	s.AddressType = at
	return s
}

// sliceFor makes a one-endpoint slice for a backend listening at addr
// ("127.0.0.1:port").
func sliceFor(t testing.TB, ns, name, svc, portName, addr string, isReady bool) *discoveryv1.EndpointSlice {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return newSlice(ns, name, svc, portName, int32(port), endpoint{ip: host, ready: &isReady})
}

func defaultClass(name, controller string) *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{defaultClassAnnotation: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: controller},
	}
}

// staticBuilder is a builder over plain indexers holding objs.
func staticBuilder(t testing.TB, objs ...runtime.Object) *builder {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	ings, classes, svcs, slices, secrets := idx(), idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *networkingv1.Ingress:
			err = ings.Add(o)
		case *networkingv1.IngressClass:
			err = classes.Add(o)
		case *corev1.Service:
			err = svcs.Add(o)
		case *discoveryv1.EndpointSlice:
			err = slices.Add(o)
		case *corev1.Secret:
			err = secrets.Add(o)
		default:
			t.Fatalf("unexpected object %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &builder{
		className:   DefaultClassName,
		controller:  DefaultControllerName,
		ingresses:   networkinglisters.NewIngressLister(ings),
		classLister: networkinglisters.NewIngressClassLister(classes),
		services:    corelisters.NewServiceLister(svcs),
		slices:      discoverylisters.NewEndpointSliceLister(slices),
		secrets:     corelisters.NewSecretLister(secrets),
		certs:       map[string]cachedCert{},
	}
}

func mustBuild(t testing.TB, objs ...runtime.Object) (*table, []string) {
	t.Helper()
	tbl, warnings, err := staticBuilder(t, objs...).build(nil, func(*refs) {})
	if err != nil {
		t.Fatal(err)
	}
	return tbl, warnings
}
