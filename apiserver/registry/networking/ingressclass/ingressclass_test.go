package ingressclass

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
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

func validClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{
			Controller: "k8s.io/ingress-nginx",
			Parameters: &networkingv1.IngressClassParametersReference{
				APIGroup: ptr("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb",
			},
		},
	}
}

func TestDefaults(t *testing.T) {
	ic := validClass()
	setDefaults(ic)
	if ic.Spec.Parameters.Scope == nil || *ic.Spec.Parameters.Scope != "Cluster" {
		t.Fatalf("scope = %v, want Cluster", ic.Spec.Parameters.Scope)
	}
	ic.Spec.Parameters.Scope = ptr("Namespace")
	setDefaults(ic)
	if *ic.Spec.Parameters.Scope != "Namespace" {
		t.Errorf("defaulting overwrote scope: %v", *ic.Spec.Parameters.Scope)
	}
	noParams := &networkingv1.IngressClass{}
	setDefaults(noParams)
	if noParams.Spec.Parameters != nil {
		t.Errorf("defaulting invented parameters")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networkingv1.IngressClass)
		want   []string
	}{
		{"valid", func(*networkingv1.IngressClass) {}, nil},
		{"controller required", func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "" },
			[]string{"FieldValueRequired spec.controller"}},
		{"controller not domain prefixed", func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "nginx" },
			[]string{"FieldValueInvalid spec.controller"}},
		{"controller too long", func(ic *networkingv1.IngressClass) {
			ic.Spec.Controller = "example.com/" + strings.Repeat("a", 250)
		}, []string{"FieldValueTooLong spec.controller"}},
		{"parameters kind and name required", func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Kind, ic.Spec.Parameters.Name = "", ""
		}, []string{"FieldValueRequired spec.parameters.kind", "FieldValueRequired spec.parameters.name"}},
		{"parameters name not a path segment", func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Name = "a/b"
		}, []string{"FieldValueInvalid spec.parameters.name"}},
		{"namespace scope needs namespace", func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Scope = ptr("Namespace")
		}, []string{"FieldValueRequired spec.parameters.namespace"}},
		{"cluster scope forbids namespace", func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Namespace = ptr("default")
		}, []string{"FieldValueForbidden spec.parameters.namespace"}},
		{"unknown scope", func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters.Scope = ptr("Galaxy")
		}, []string{"FieldValueNotSupported spec.parameters.scope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ic := validClass()
			setDefaults(ic)
			tc.mutate(ic)
			checkErrs(t, validateCreate(context.Background(), ic), tc.want)
		})
	}

	// Without defaulting, a missing scope is required.
	raw := validClass()
	checkErrs(t, validateCreate(context.Background(), raw), []string{"FieldValueRequired spec.parameters.scope"})
}

func TestUpdate(t *testing.T) {
	old := validClass()
	setDefaults(old)
	old.Generation = 1
	ic := old.DeepCopy()
	ic.Spec.Controller = "example.com/other"
	checkErrs(t, validateUpdate(context.Background(), ic, old), []string{"FieldValueInvalid spec.controller"})

	ic = old.DeepCopy()
	ic.Spec.Parameters.Name = "other"
	checkErrs(t, validateUpdate(context.Background(), ic, old), nil)
	prepareForUpdate(context.Background(), ic, old)
	if ic.Generation != 2 {
		t.Errorf("generation = %d, want 2", ic.Generation)
	}
}

func TestCells(t *testing.T) {
	ic := validClass()
	ic.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * time.Hour))
	want := fmt.Sprint([]interface{}{"nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "120m"})
	if got := fmt.Sprint(cells(ic)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	ic.Spec.Parameters = nil
	if got := cells(ic)[2]; got != "<none>" {
		t.Errorf("parameters cell = %v, want <none>", got)
	}
}
