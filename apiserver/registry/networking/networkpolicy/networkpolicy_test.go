package networkpolicy

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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

func validPolicy() *networkingv1.NetworkPolicy {
	port := intstr.FromInt32(80)
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-web", Namespace: "default"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port}},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/16", Except: []string{"10.0.1.0/24"}}},
				},
			}},
		},
	}
}

func TestDefaults(t *testing.T) {
	np := validPolicy()
	setDefaults(np)
	if fmt.Sprint(np.Spec.PolicyTypes) != "[Ingress]" {
		t.Errorf("policyTypes = %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	if p := np.Spec.Ingress[0].Ports[0].Protocol; p == nil || *p != corev1.ProtocolTCP {
		t.Errorf("protocol = %v, want TCP", p)
	}

	withEgress := validPolicy()
	withEgress.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolUDP)}}}}
	setDefaults(withEgress)
	if fmt.Sprint(withEgress.Spec.PolicyTypes) != "[Ingress Egress]" {
		t.Errorf("policyTypes = %v, want [Ingress Egress]", withEgress.Spec.PolicyTypes)
	}
	if *withEgress.Spec.Egress[0].Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("explicit protocol overwritten")
	}

	explicit := validPolicy()
	explicit.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	setDefaults(explicit)
	if fmt.Sprint(explicit.Spec.PolicyTypes) != "[Egress]" {
		t.Errorf("explicit policyTypes changed to %v", explicit.Spec.PolicyTypes)
	}
}

func TestValidate(t *testing.T) {
	const rule = "spec.ingress[0]"
	tests := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		want   []string
	}{
		{"valid", func(*networkingv1.NetworkPolicy) {}, nil},
		{"bad protocol", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Protocol = ptr(corev1.Protocol("ICMP"))
		}, []string{"FieldValueNotSupported " + rule + ".ports[0].protocol"}},
		{"port out of range", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromInt32(0))
		}, []string{"FieldValueInvalid " + rule + ".ports[0].port"}},
		{"endPort below port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(79))
		}, []string{"FieldValueInvalid " + rule + ".ports[0].endPort"}},
		{"endPort with named port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromString("http"))
			np.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(90))
		}, []string{"FieldValueInvalid " + rule + ".ports[0].endPort"}},
		{"endPort without port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = nil
			np.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(90))
		}, []string{"FieldValueInvalid " + rule + ".ports[0].endPort"}},
		{"empty peer", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0] = networkingv1.NetworkPolicyPeer{}
		}, []string{"FieldValueRequired " + rule + ".from[0]"}},
		{"ipBlock with selector", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].NamespaceSelector = &metav1.LabelSelector{}
		}, []string{"FieldValueForbidden " + rule + ".from[1]"}},
		{"cidr required", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].IPBlock = &networkingv1.IPBlock{}
		}, []string{"FieldValueRequired " + rule + ".from[1].ipBlock.cidr"}},
		{"cidr invalid", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].IPBlock.CIDR = "10.0.0.0/33"
		}, []string{"FieldValueInvalid " + rule + ".from[1].ipBlock.cidr"}},
		{"except not a subset", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].IPBlock.Except = []string{"192.168.0.0/24", "10.0.0.0/16"}
		}, []string{"FieldValueInvalid " + rule + ".from[1].ipBlock.except[0]", "FieldValueInvalid " + rule + ".from[1].ipBlock.except[1]"}},
		{"bad label value in podSelector", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchLabels["app"] = "no spaces"
		}, []string{"FieldValueInvalid spec.podSelector.matchLabels"}},
		{"unknown policy type", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
		}, []string{"FieldValueNotSupported spec.policyTypes[0]"}},
		{"too many policy types", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Ingress", "Egress", "Ingress"}
		}, []string{"FieldValueInvalid spec.policyTypes"}},
		{"egress peer checked", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{}}}}
		}, []string{"FieldValueRequired spec.egress[0].to[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			np := validPolicy()
			setDefaults(np)
			tc.mutate(np)
			checkErrs(t, validateCreate(context.Background(), np), tc.want)
		})
	}
}

func TestUpdate(t *testing.T) {
	old := validPolicy()
	old.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"no spaces"}}}
	old.Generation = 3
	np := old.DeepCopy()
	np.Spec.Ingress[0].Ports = nil
	// The stored selector value was already invalid, so it stays acceptable.
	checkErrs(t, validateUpdate(context.Background(), np, old), nil)
	checkErrs(t, validateCreate(context.Background(), np), []string{"FieldValueInvalid spec.podSelector.matchExpressions[0].values[0]"})

	prepareForUpdate(context.Background(), np, old)
	if np.Generation != 4 {
		t.Errorf("generation = %d, want 4", np.Generation)
	}
	same := old.DeepCopy()
	prepareForUpdate(context.Background(), same, old)
	if same.Generation != 3 {
		t.Errorf("unchanged spec bumped generation to %d", same.Generation)
	}
}

func TestCells(t *testing.T) {
	np := validPolicy()
	np.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * 24 * time.Hour))
	want := fmt.Sprint([]interface{}{"allow-web", "app=web", "3d"})
	if got := fmt.Sprint(cells(np)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	np.Spec.PodSelector = metav1.LabelSelector{}
	if got := cells(np)[1]; got != "<none>" {
		t.Errorf("empty selector cell = %v, want <none>", got)
	}
}
