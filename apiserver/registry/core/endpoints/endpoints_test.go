package endpoints

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

func addrs(ips ...string) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, len(ips))
	for i, ip := range ips {
		out[i] = corev1.EndpointAddress{IP: ip}
	}
	return out
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "endpoints" || r.Singular != "endpoints" || r.ShortNames[0] != "ep" || !r.AllowCreateOnUpdate || !r.Namespaced {
		t.Fatalf("unexpected resource description: %+v", r)
	}
}

func TestDefault(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}}
	Resource().Default(ep)
	if got := ep.Subsets[0].Ports; got[0].Protocol != corev1.ProtocolTCP || got[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("ports = %+v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    []string
	}{
		{"valid", []corev1.EndpointSubset{{Addresses: addrs("10.1.0.5"), Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}, nil},
		{"headless without ports", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.1.0.5")}}, nil},
		{"no addresses", []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}, []string{"subsets[0]: Required value"}},
		{"bad ip", []corev1.EndpointSubset{{Addresses: addrs("10.1.0")}}, []string{"subsets[0].addresses[0].ip: Invalid value", "subsets[0].addresses[0].ip: Invalid value"}},
		{"loopback", []corev1.EndpointSubset{{NotReadyAddresses: addrs("127.0.0.1")}}, []string{"subsets[0].notReadyAddresses[0].ip: Invalid value"}},
		{"bad hostname and node", []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.5", Hostname: "A_B", NodeName: ptr.To("Node_1")}}}},
			[]string{"subsets[0].addresses[0].hostname: Invalid value", "subsets[0].addresses[0].nodeName: Invalid value"}},
		{"unnamed ports", []corev1.EndpointSubset{{Addresses: addrs("10.1.0.5"), Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "b", Port: 81, Protocol: corev1.ProtocolTCP}}}},
			[]string{"subsets[0].ports[0].name: Required value"}},
		{"bad port", []corev1.EndpointSubset{{Addresses: addrs("10.1.0.5"), Ports: []corev1.EndpointPort{{Port: 0, Protocol: "HTTP"}}}},
			[]string{"subsets[0].ports[0].port: Invalid value", "subsets[0].ports[0].protocol: Unsupported value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Subsets: tc.subsets}
			fieldtest.Expect(t, Resource().Validate(ctx, ep), tc.want...)
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, ep, ep.DeepCopy()), tc.want...)
		})
	}
}

func TestRepack(t *testing.T) {
	http := corev1.EndpointPort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}
	https := corev1.EndpointPort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}
	in := []corev1.EndpointSubset{
		{Addresses: addrs("10.1.0.6", "10.1.0.5"), Ports: []corev1.EndpointPort{https}},
		{Addresses: addrs("10.1.0.5"), NotReadyAddresses: addrs("10.1.0.6"), Ports: []corev1.EndpointPort{http}},
		{Addresses: addrs("10.1.0.6"), Ports: []corev1.EndpointPort{http}},
		{Addresses: addrs("10.1.0.9")},
	}
	want := []corev1.EndpointSubset{
		{Addresses: addrs("10.1.0.9")},
		{Addresses: addrs("10.1.0.5"), NotReadyAddresses: addrs("10.1.0.6"), Ports: []corev1.EndpointPort{http}},
		{Addresses: addrs("10.1.0.5", "10.1.0.6"), Ports: []corev1.EndpointPort{https}},
	}
	ep := &corev1.Endpoints{Subsets: in}
	if _, err := Resource().BeginCreate(ctx, ep, false); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ep.Subsets, want) {
		t.Errorf("repacked = %+v\nwant %+v", ep.Subsets, want)
	}
	// Ports with the same addresses share a subset.
	merged := RepackSubsets([]corev1.EndpointSubset{
		{Addresses: addrs("10.1.0.5"), Ports: []corev1.EndpointPort{https}},
		{Addresses: addrs("10.1.0.5"), Ports: []corev1.EndpointPort{http}},
	})
	if len(merged) != 1 || !reflect.DeepEqual(merged[0].Ports, []corev1.EndpointPort{http, https}) {
		t.Errorf("merged = %+v", merged)
	}
	if RepackSubsets(nil) != nil {
		t.Error("empty subsets repacked to non-nil")
	}
}

func TestTable(t *testing.T) {
	port := func(p int32) []corev1.EndpointPort { return []corev1.EndpointPort{{Port: p}} }
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"two", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: port(80)}}, "10.0.0.1:80,10.0.0.2:80"},
		{"more", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), Ports: port(80)}}, "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."},
		{"two ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}, "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."},
		{"no ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1")}}, "10.0.0.1"},
		{"ipv6", []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: port(80)}}, "[fd00::1]:80"},
		{"only not ready", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.0.0.1"), Ports: port(80)}}, ""},
	}
	r := Resource()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: metav1.NewTime(time.Now().Add(-3 * 24 * time.Hour))}, Subsets: tc.subsets}
			cells := r.Cells(ep)
			if len(cells) != len(r.Columns) || cells[0] != "web" || cells[1] != tc.want || cells[2] != "3d" {
				t.Errorf("cells = %q, want endpoints %q", cells, tc.want)
			}
		})
	}
}
