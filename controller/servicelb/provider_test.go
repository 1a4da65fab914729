package servicelb

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

type nodeOpt func(*corev1.Node)

func testNode(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func internalIP(ip string) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
}

func externalIP(ip string) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip})
	}
}

func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

type svcOpt func(*corev1.Service)

func testService(name string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func local(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func slice(svc, name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

func endpoint(node string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{"10.42.0.5"}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

func sliceLister(t *testing.T, slices ...*discoveryv1.EndpointSlice) discoverylisters.EndpointSliceLister {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range slices {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return discoverylisters.NewEndpointSliceLister(idx)
}

func ips(s *corev1.LoadBalancerStatus) string {
	var out []string
	for _, i := range s.Ingress {
		mode := "nil"
		if i.IPMode != nil {
			mode = string(*i.IPMode)
		}
		out = append(out, i.IP+"/"+mode)
	}
	return strings.Join(out, ",")
}

func TestNodeAddresses(t *testing.T) {
	nodes := []*corev1.Node{
		testNode("a", internalIP("192.168.0.2")),
		testNode("b", internalIP("192.168.0.1"), internalIP("fd00::1")),
		testNode("down", internalIP("192.168.0.3"), notReady),
		testNode("cordoned", internalIP("192.168.0.4"), cordoned),
		testNode("no-condition", internalIP("192.168.0.5"), func(n *corev1.Node) { n.Status.Conditions = nil }),
	}
	withExternal := append([]*corev1.Node{testNode("c", internalIP("192.168.0.6"), externalIP("203.0.113.6"))}, nodes...)
	for _, tt := range []struct {
		name   string
		svc    *corev1.Service
		nodes  []*corev1.Node
		slices []*discoveryv1.EndpointSlice
		want   string
	}{
		{"ready schedulable nodes, sorted", testService("web"), nodes, nil, "192.168.0.1/VIP,192.168.0.2/VIP"},
		{"IPv6 service", testService("web", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }), nodes, nil, "fd00::1/VIP"},
		{"dual-stack service", testService("web", func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}), nodes, nil, "192.168.0.1/VIP,192.168.0.2/VIP,fd00::1/VIP"},
		{"external IPs win when a node has one", testService("web"), withExternal, nil, "203.0.113.6/VIP"},
		{"no nodes", testService("web"), nil, nil, ""},
		{"local: nodes with a ready endpoint", testService("web", local), nodes, []*discoveryv1.EndpointSlice{
			slice("web", "web-1", endpoint("a", ptr.To(true)), endpoint("b", ptr.To(false))),
			slice("web", "web-2", endpoint("down", nil)), // nil is ready, but the node is not
			slice("other", "other-1", endpoint("b", ptr.To(true))),
		}, "192.168.0.2/VIP"},
		{"local: nil ready counts as ready", testService("web", local), nodes, []*discoveryv1.EndpointSlice{
			slice("web", "web-1", endpoint("b", nil)),
		}, "192.168.0.1/VIP"},
		{"local without endpoints", testService("web", local), nodes, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewNodeAddresses(sliceLister(t, tt.slices...))
			st, err := p.EnsureLoadBalancer(context.Background(), tt.svc, tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if got := ips(st); got != tt.want {
				t.Errorf("ingress %q, want %q", got, tt.want)
			}
		})
	}
	if err := NewNodeAddresses(sliceLister(t)).EnsureLoadBalancerDeleted(context.Background(), testService("web")); err != nil {
		t.Errorf("delete: %v", err)
	}
}
