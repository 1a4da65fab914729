package endpointslice

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func checkErrs(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors = %v, want %v (%v)", got, want, errs)
	}
}

func ptr[T any](v T) *T { return &v }

func newSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.5"}, NodeName: ptr("node-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.1.0.6"}, Hostname: ptr("pod-b")},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
	}
}

func TestDefaults(t *testing.T) {
	eps := newSlice()
	eps.Ports = append(eps.Ports, discoveryv1.EndpointPort{Port: ptr(int32(53)), Protocol: ptr(corev1.ProtocolUDP)})
	setDefaults(eps)
	if *eps.Ports[0].Protocol != corev1.ProtocolTCP || *eps.Ports[0].Name != "http" {
		t.Errorf("port 0 = %+v", eps.Ports[0])
	}
	if eps.Ports[1].Name == nil || *eps.Ports[1].Name != "" || *eps.Ports[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("port 1 = %+v", eps.Ports[1])
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []string
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, nil},
		{"address type required", func(e *discoveryv1.EndpointSlice) { e.AddressType = "" },
			[]string{"FieldValueRequired addressType"}},
		{"address type unsupported", func(e *discoveryv1.EndpointSlice) { e.AddressType = "IP" },
			[]string{"FieldValueNotSupported addressType"}},
		{"no addresses", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil },
			[]string{"FieldValueRequired endpoints[0].addresses"}},
		{"not an IP", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"10.1.0.256"} },
			[]string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{"IPv6 in an IPv4 slice", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"fd00::5"} },
			[]string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{"loopback", func(e *discoveryv1.EndpointSlice) { e.Endpoints[1].Addresses = []string{"127.0.0.1"} },
			[]string{"FieldValueInvalid endpoints[1].addresses[0]"}},
		{"fqdn", func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeFQDN
			e.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"example.com"}}, {Addresses: []string{"not_valid"}}}
		}, []string{"FieldValueInvalid endpoints[1].addresses[0]"}},
		{"bad node name and hostname", func(e *discoveryv1.EndpointSlice) {
			e.Endpoints[0].NodeName = ptr("Node_1")
			e.Endpoints[1].Hostname = ptr("a.b")
		}, []string{"FieldValueInvalid endpoints[0].nodeName", "FieldValueInvalid endpoints[1].hostname"}},
		{"zone hints", func(e *discoveryv1.EndpointSlice) {
			e.Endpoints[0].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "a"}, {Name: "bad zone"}}}
		}, []string{"FieldValueDuplicate endpoints[0].hints.forZones[1].name", "FieldValueInvalid endpoints[0].hints.forZones[2].name"}},
		{"duplicate port names", func(e *discoveryv1.EndpointSlice) {
			e.Ports = append(e.Ports, discoveryv1.EndpointPort{Name: ptr("http"), Port: ptr(int32(80)), Protocol: ptr(corev1.ProtocolTCP)})
		}, []string{"FieldValueDuplicate ports[1].name"}},
		{"port name not a label", func(e *discoveryv1.EndpointSlice) { e.Ports[0].Name = ptr("HTTP") },
			[]string{"FieldValueInvalid ports[0].name"}},
		{"protocol unsupported", func(e *discoveryv1.EndpointSlice) { e.Ports[0].Protocol = ptr(corev1.Protocol("ICMP")) },
			[]string{"FieldValueNotSupported ports[0].protocol"}},
		{"appProtocol", func(e *discoveryv1.EndpointSlice) { e.Ports[0].AppProtocol = ptr("kubernetes.io/h2c") }, nil},
		{"appProtocol invalid", func(e *discoveryv1.EndpointSlice) { e.Ports[0].AppProtocol = ptr("not valid") },
			[]string{"FieldValueInvalid ports[0].appProtocol"}},
		{"too many endpoints", func(e *discoveryv1.EndpointSlice) {
			e.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}, []string{"FieldValueTooMany endpoints"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eps := newSlice()
			setDefaults(eps)
			tc.mutate(eps)
			checkErrs(t, validateCreate(context.Background(), eps), tc.want)
		})
	}
}

func TestUpdate(t *testing.T) {
	old := newSlice()
	setDefaults(old)
	old.Generation = 1
	eps := old.DeepCopy()
	eps.AddressType = discoveryv1.AddressTypeIPv6
	eps.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"fd00::5"}}}
	checkErrs(t, validateUpdate(context.Background(), eps, old), []string{"FieldValueInvalid addressType"})

	// Only label changes in metadata bump the generation.
	annotated := old.DeepCopy()
	annotated.Annotations = map[string]string{"a": "b"}
	prepareForUpdate(context.Background(), annotated, old)
	if annotated.Generation != 1 {
		t.Errorf("annotation change bumped generation to %d", annotated.Generation)
	}
	relabeled := old.DeepCopy()
	relabeled.Labels["x"] = "y"
	prepareForUpdate(context.Background(), relabeled, old)
	if relabeled.Generation != 2 {
		t.Errorf("label change: generation %d, want 2", relabeled.Generation)
	}
	moved := old.DeepCopy()
	moved.Endpoints[0].Addresses = []string{"10.1.0.9"}
	prepareForUpdate(context.Background(), moved, old)
	if moved.Generation != 2 {
		t.Errorf("endpoint change: generation %d, want 2", moved.Generation)
	}
}

func TestPrepareForCreate(t *testing.T) {
	eps := newSlice()
	eps.Endpoints[0].DeprecatedTopology = map[string]string{"rack": "r1"}
	eps.Endpoints[0].Hints = &discoveryv1.EndpointHints{
		ForZones: []discoveryv1.ForZone{{Name: "a"}},
		ForNodes: []discoveryv1.ForNode{{Name: "node-1"}},
	}
	prepareForCreate(context.Background(), eps)
	if eps.Generation != 1 || eps.Endpoints[0].DeprecatedTopology != nil {
		t.Errorf("generation %d topology %v", eps.Generation, eps.Endpoints[0].DeprecatedTopology)
	}
	if len(eps.Endpoints[0].Hints.ForNodes) != 0 || len(eps.Endpoints[0].Hints.ForZones) != 1 {
		t.Errorf("hints = %+v, want zone hints only", eps.Endpoints[0].Hints)
	}
}

func TestCells(t *testing.T) {
	eps := newSlice()
	setDefaults(eps)
	eps.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Minute))
	want := fmt.Sprint([]interface{}{"web-abc", "IPv4", "8080", "10.1.0.5,10.1.0.6", "60s"})
	if got := fmt.Sprint(cells(eps)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}

	eps.Ports = []discoveryv1.EndpointPort{{Port: ptr(int32(1))}, {Name: ptr("dns")}, {}, {Port: ptr(int32(4))}}
	eps.Endpoints = append(eps.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.1.0.7", "10.1.0.8"}})
	if got := formatPorts(eps.Ports); got != "1,dns,* + 1 more..." {
		t.Errorf("ports = %q", got)
	}
	if got := formatEndpoints(eps.Endpoints); got != "10.1.0.5,10.1.0.6,10.1.0.7 + 1 more..." {
		t.Errorf("endpoints = %q", got)
	}
	if got := formatEndpoints(nil); got != "<unset>" {
		t.Errorf("no endpoints = %q", got)
	}
}
