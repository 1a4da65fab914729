package admission

import (
	"context"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/generic"
)

type classList []networkingv1.IngressClass

func (c classList) List(context.Context) ([]networkingv1.IngressClass, error) { return c, nil }

func class(name string, isDefault bool, age time.Duration) networkingv1.IngressClass {
	c := networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))}}
	if isDefault {
		c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return c
}

func TestDefaultIngressClass(t *testing.T) {
	own := "own"
	tests := []struct {
		name    string
		classes classList
		ing     networkingv1.Ingress
		op      generic.Operation
		want    string // "" for none
	}{
		{"defaulted", classList{class("berth", true, time.Hour), class("other", false, 0)}, networkingv1.Ingress{}, generic.Create, "berth"},
		{"newest default wins", classList{class("old", true, time.Hour), class("new", true, time.Minute)}, networkingv1.Ingress{}, generic.Create, "new"},
		{"no default", classList{class("other", false, 0)}, networkingv1.Ingress{}, generic.Create, ""},
		{"class given", classList{class("berth", true, 0)}, networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: &own}}, generic.Create, "own"},
		{"legacy annotation", classList{class("berth", true, 0)}, networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}}}, generic.Create, ""},
		{"update untouched", classList{class("berth", true, 0)}, networkingv1.Ingress{}, generic.Update, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ing := tc.ing.DeepCopy()
			a := &generic.Attributes{Operation: tc.op, Resource: &registry.Resource{Group: "networking.k8s.io", Resource: "ingresses"}, Object: ing}
			if err := (&DefaultIngressClass{Classes: tc.classes}).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			got := ""
			if ing.Spec.IngressClassName != nil {
				got = *ing.Spec.IngressClassName
			}
			if got != tc.want {
				t.Errorf("ingressClassName %q, want %q", got, tc.want)
			}
		})
	}
}
