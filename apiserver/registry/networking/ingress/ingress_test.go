package ingress

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errStrings(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return out
}

func checkErrs(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := errStrings(errs)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors = %v, want %v (%v)", got, want, errs)
	}
}

func ptr[T any](v T) *T { return &v }

func validIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("nginx"),
			Rules: []networkingv1.IngressRule{{
				Host: "example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80},
						}},
					}},
				}},
			}},
		},
	}
}

func TestValidateCreate(t *testing.T) {
	const p0 = "spec.rules[0].http.paths[0]"
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []string
	}{
		{"valid", func(*networkingv1.Ingress) {}, nil},
		{"pathType required", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = nil
		}, []string{"FieldValueRequired " + p0 + ".pathType"}},
		{"unsupported pathType", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathType("Regex"))
		}, []string{"FieldValueNotSupported " + p0 + ".pathType"}},
		{"exact path must be absolute", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeExact)
			i.Spec.Rules[0].HTTP.Paths[0].Path = "foo"
		}, []string{"FieldValueInvalid " + p0 + ".path"}},
		{"prefix path with // and trailing /..", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Path = "/a//b/.."
		}, []string{"FieldValueInvalid " + p0 + ".path", "FieldValueInvalid " + p0 + ".path"}},
		{"implementation specific may be empty", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeImplementationSpecific)
			i.Spec.Rules[0].HTTP.Paths[0].Path = ""
		}, nil},
		{"implementation specific relative", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeImplementationSpecific)
			i.Spec.Rules[0].HTTP.Paths[0].Path = "foo"
		}, []string{"FieldValueInvalid " + p0 + ".path"}},
		{"no paths", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths = nil
		}, []string{"FieldValueRequired spec.rules[0].http.paths"}},
		{"service name not DNS-1035", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "1web"
		}, []string{"FieldValueInvalid " + p0 + ".backend.service.name"}},
		{"service name required", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = ""
		}, []string{"FieldValueRequired " + p0 + ".backend.service.name"}},
		{"port name and number", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http"
		}, []string{"FieldValueInvalid " + p0 + ".backend"}},
		{"port required", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 0
		}, []string{"FieldValueRequired " + p0 + ".backend"}},
		{"port out of range", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 70000
		}, []string{"FieldValueInvalid " + p0 + ".backend.service.port.number"}},
		{"no backend", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service = nil
		}, []string{"FieldValueInvalid " + p0 + ".backend"}},
		{"resource backend needs kind", func(i *networkingv1.Ingress) {
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Name: "bucket"}}
		}, []string{"FieldValueRequired spec.defaultBackend.resource.kind"}},
		{"neither rules nor default backend", func(i *networkingv1.Ingress) {
			i.Spec.Rules = nil
		}, []string{"FieldValueInvalid spec"}},
		{"host is an IP", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "10.0.0.1"
		}, []string{"FieldValueInvalid spec.rules[0].host"}},
		{"bad wildcard host", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "a.*.com"
		}, []string{"FieldValueInvalid spec.rules[0].host"}},
		{"good wildcard host", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "*.example.com"
		}, nil},
		{"tls host invalid", func(i *networkingv1.Ingress) {
			i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"Bad_Host"}, SecretName: "tls"}}
		}, []string{"FieldValueInvalid spec.tls[0].hosts[0]"}},
		{"tls secret name invalid", func(i *networkingv1.Ingress) {
			i.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad"}}
		}, []string{"FieldValueInvalid spec.tls[0].secretName"}},
		{"ingressClassName invalid", func(i *networkingv1.Ingress) {
			i.Spec.IngressClassName = ptr("Nginx")
		}, []string{"FieldValueInvalid spec.ingressClassName"}},
		{"annotation disagrees with class name", func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{annotationIngressClass: "traefik"}
		}, []string{"FieldValueInvalid annotations.kubernetes.io/ingress.class"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ing := validIngress()
			tc.mutate(ing)
			checkErrs(t, validateCreate(context.Background(), ing), tc.want)
		})
	}
}

func TestValidateUpdateKeepsLegacyData(t *testing.T) {
	old := validIngress()
	old.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad"}}
	ing := old.DeepCopy()
	ing.Spec.Rules[0].HTTP.Paths[0].Path = "/new"
	checkErrs(t, validateUpdate(context.Background(), ing, old), nil)

	// A clean old object does not license a bad secret name.
	clean := validIngress()
	checkErrs(t, validateUpdate(context.Background(), ing, clean), []string{"FieldValueInvalid spec.tls[0].secretName"})
}

func TestPrepare(t *testing.T) {
	ing := validIngress()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "1.2.3.4"}}
	prepareForCreate(context.Background(), ing)
	if len(ing.Status.LoadBalancer.Ingress) != 0 || ing.Generation != 1 {
		t.Fatalf("create: status %v generation %d", ing.Status, ing.Generation)
	}

	old := validIngress()
	old.Generation = 4
	old.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "1.2.3.4"}}

	same := old.DeepCopy()
	same.Status = networkingv1.IngressStatus{}
	same.Labels = map[string]string{"a": "b"}
	prepareForUpdate(context.Background(), same, old)
	if same.Generation != 4 || len(same.Status.LoadBalancer.Ingress) != 1 {
		t.Errorf("metadata-only update: generation %d status %v", same.Generation, same.Status)
	}

	changed := old.DeepCopy()
	changed.Spec.Rules[0].Host = "other.example.com"
	prepareForUpdate(context.Background(), changed, old)
	if changed.Generation != 5 {
		t.Errorf("spec update: generation %d, want 5", changed.Generation)
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	old := validIngress()
	ing := old.DeepCopy()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{
		{IP: "10.0.0.300"},
		{Hostname: "1.2.3.4"},
		{IP: "10.0.0.3", Hostname: "lb.example.com"},
	}
	checkErrs(t, validateStatusUpdate(context.Background(), ing, old), []string{
		"FieldValueInvalid status.loadBalancer.ingress[0].ip",
		"FieldValueInvalid status.loadBalancer.ingress[1].hostname",
	})
}

func TestCells(t *testing.T) {
	ing := validIngress()
	ing.CreationTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Minute))
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"example.com"}}}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.100.200"}, {IP: "10.0.0.1"}}
	got := fmt.Sprint(cells(ing))
	want := fmt.Sprint([]interface{}{"web", "nginx", "example.com", "10.0.0.1,192.168.100.200", "80, 443", "5m"})
	if got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}

	bare := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	bare.Spec.Rules = []networkingv1.IngressRule{{}, {Host: "a"}, {Host: "b"}, {Host: "c"}, {Host: "d"}}
	got = fmt.Sprint(cells(bare))
	want = fmt.Sprint([]interface{}{"x", "<none>", "a,b,c + 2 more...", "", "80", "<unknown>"})
	if got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	if len(columns()) != len(cells(ing)) {
		t.Errorf("%d columns but %d cells", len(columns()), len(cells(ing)))
	}
}
