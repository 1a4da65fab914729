package service

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

// created runs a service through Default and PrepareForCreate as the store
// does for a create request.
func created(r *registry.Resource, svc *corev1.Service) *corev1.Service {
	r.Default(svc)
	r.PrepareForCreate(ctx, svc)
	return svc
}

func clusterIPService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			Ports:     []corev1.ServicePort{{Port: 80}},
			ClusterIP: "10.96.0.10",
		},
	}
}

func TestResourceNames(t *testing.T) {
	r := Resource()
	if r.Resource != "services" || !r.Namespaced || !slices.Equal(r.ShortNames, []string{"svc"}) ||
		!slices.Equal(r.Categories, []string{"all"}) || r.Status == nil || !r.AllowCreateOnUpdate {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	// Service names are DNS-1035 labels: no leading digit.
	if len(r.ValidateName("web", false)) != 0 || len(r.ValidateName("1web", false)) == 0 || len(r.ValidateName("a.b", false)) == 0 {
		t.Error("ValidateName does not check DNS-1035 labels")
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name  string
		spec  corev1.ServiceSpec
		check func(t *testing.T, s *corev1.ServiceSpec)
	}{
		{"cluster IP", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.Type != corev1.ServiceTypeClusterIP || s.SessionAffinity != corev1.ServiceAffinityNone {
				t.Errorf("type/affinity = %q/%q", s.Type, s.SessionAffinity)
			}
			if p := s.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(80) {
				t.Errorf("port = %+v", p)
			}
			if s.InternalTrafficPolicy == nil || *s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
				t.Errorf("internalTrafficPolicy = %v", s.InternalTrafficPolicy)
			}
			if s.ExternalTrafficPolicy != "" || s.AllocateLoadBalancerNodePorts != nil {
				t.Errorf("externalTrafficPolicy %q / allocateLoadBalancerNodePorts %v set on ClusterIP", s.ExternalTrafficPolicy, s.AllocateLoadBalancerNodePorts)
			}
		}},
		{"named target port kept", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolUDP}}}, func(t *testing.T, s *corev1.ServiceSpec) {
			if p := s.Ports[0]; p.TargetPort != intstr.FromString("http") || p.Protocol != corev1.ProtocolUDP {
				t.Errorf("port = %+v", p)
			}
		}},
		{"node port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("externalTrafficPolicy = %q", s.ExternalTrafficPolicy)
			}
		}},
		{"cluster IP with external IPs", corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("externalTrafficPolicy = %q", s.ExternalTrafficPolicy)
			}
		}},
		{"load balancer", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.AllocateLoadBalancerNodePorts == nil || !*s.AllocateLoadBalancerNodePorts || s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("allocateLoadBalancerNodePorts %v, externalTrafficPolicy %q", s.AllocateLoadBalancerNodePorts, s.ExternalTrafficPolicy)
			}
		}},
		{"client IP affinity", corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP}, func(t *testing.T, s *corev1.ServiceSpec) {
			if c := s.SessionAffinityConfig; c == nil || c.ClientIP == nil || *c.ClientIP.TimeoutSeconds != 10800 {
				t.Errorf("sessionAffinityConfig = %+v", c)
			}
		}},
		{"affinity config dropped for None", corev1.ServiceSpec{SessionAffinityConfig: &corev1.SessionAffinityConfig{}}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.SessionAffinityConfig != nil {
				t.Errorf("sessionAffinityConfig = %+v", s.SessionAffinityConfig)
			}
		}},
		{"external name", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}, func(t *testing.T, s *corev1.ServiceSpec) {
			if s.InternalTrafficPolicy != nil || s.ExternalTrafficPolicy != "" {
				t.Errorf("traffic policies set on ExternalName: %v %q", s.InternalTrafficPolicy, s.ExternalTrafficPolicy)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: tc.spec}
			Default(svc)
			once := svc.DeepCopy()
			Default(svc)
			if !equalSpec(once, svc) {
				t.Errorf("Default is not idempotent: %+v then %+v", once.Spec, svc.Spec)
			}
			tc.check(t, &svc.Spec)
		})
	}
}

func equalSpec(a, b *corev1.Service) bool {
	return a.String() == b.String()
}

func TestDefaultLoadBalancerIPMode(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "lb.example.com"}}
	Default(svc)
	if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
		t.Errorf("ipMode = %v", m)
	}
	if svc.Status.LoadBalancer.Ingress[1].IPMode != nil {
		t.Error("ipMode set on a hostname ingress")
	}
}

func TestPrepareForCreate(t *testing.T) {
	v4, v6 := corev1.IPv4Protocol, corev1.IPv6Protocol
	single, prefer, require := corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack
	tests := []struct {
		name         string
		cluster      []corev1.IPFamily
		mutate       func(*corev1.Service)
		wantPolicy   *corev1.IPFamilyPolicy
		wantFamilies []corev1.IPFamily
		wantIPs      []string
	}{
		{"cluster IP", nil, func(s *corev1.Service) {}, &single, []corev1.IPFamily{v4}, []string{"10.96.0.10"}},
		{"allocated later", nil, func(s *corev1.Service) { s.Spec.ClusterIP = "" }, &single, []corev1.IPFamily{v4}, nil},
		{"headless with selector", nil, func(s *corev1.Service) { s.Spec.ClusterIP = "None" }, &single, []corev1.IPFamily{v4}, []string{"None"}},
		{"headless without selector", nil, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Selector = "None", nil }, &require, []corev1.IPFamily{v4, v6}, []string{"None"}},
		{"external name", nil, func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", "example.com"
		}, nil, nil, nil},
		{"dual-stack cluster, prefer dual", []corev1.IPFamily{v4, v6}, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.IPFamilyPolicy = "", &prefer
		}, &prefer, []corev1.IPFamily{v4, v6}, nil},
		{"dual-stack cluster, IPv6 address", []corev1.IPFamily{v4, v6}, func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" }, &single, []corev1.IPFamily{v6}, []string{"fd00::10"}},
		{"IPv6 cluster", []corev1.IPFamily{v6}, func(s *corev1.Service) { s.Spec.ClusterIP = "" }, &single, []corev1.IPFamily{v6}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ResourceWithIPFamilies(tc.cluster...)
			svc := clusterIPService()
			tc.mutate(svc)
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
			created(r, svc)
			if len(svc.Status.LoadBalancer.Ingress) != 0 {
				t.Error("status not reset")
			}
			if !samePolicy(svc.Spec.IPFamilyPolicy, tc.wantPolicy) {
				t.Errorf("ipFamilyPolicy = %v, want %v", ptr.Deref(svc.Spec.IPFamilyPolicy, ""), ptr.Deref(tc.wantPolicy, ""))
			}
			if !slices.Equal(svc.Spec.IPFamilies, tc.wantFamilies) {
				t.Errorf("ipFamilies = %v, want %v", svc.Spec.IPFamilies, tc.wantFamilies)
			}
			if !slices.Equal(svc.Spec.ClusterIPs, tc.wantIPs) {
				t.Errorf("clusterIPs = %v, want %v", svc.Spec.ClusterIPs, tc.wantIPs)
			}
			fieldtest.Expect(t, r.Validate(ctx, svc))
		})
	}
}

func TestNeeds(t *testing.T) {
	tests := []struct {
		name                    string
		spec                    corev1.ServiceSpec
		clusterIP, nodes, check bool
	}{
		{"cluster IP", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}, true, false, false},
		{"headless", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None"}, false, false, false},
		{"node port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}, true, true, false},
		{"load balancer", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}, true, true, false},
		{"load balancer without node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: ptr.To(false)}, true, false, false},
		{"load balancer, local", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}, true, true, true},
		{"node port, local", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}, true, true, false},
		{"external name", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: tc.spec}
			if NeedsClusterIP(svc) != tc.clusterIP || NeedsNodePorts(svc) != tc.nodes || NeedsHealthCheckNodePort(svc) != tc.check {
				t.Errorf("NeedsClusterIP=%v NeedsNodePorts=%v NeedsHealthCheckNodePort=%v, want %v %v %v",
					NeedsClusterIP(svc), NeedsNodePorts(svc), NeedsHealthCheckNodePort(svc), tc.clusterIP, tc.nodes, tc.check)
			}
		})
	}
}

func TestTable(t *testing.T) {
	r := Resource()
	age := metav1.NewTime(time.Now().Add(-10 * time.Minute))
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []interface{}
	}{
		{"cluster IP", func(s *corev1.Service) {}, []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "10m", "app=web"}},
		{"node port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "dns", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}
		}, []interface{}{"web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53:30053/UDP", "10m", "app=web"}},
		{"pending load balancer", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 31000
		}, []interface{}{"web", "LoadBalancer", "10.96.0.10", "<pending>", "80:31000/TCP", "10m", "app=web"}},
		{"load balancer with ingress", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalIPs = []string{"198.51.100.7"}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.9"}, {Hostname: "lb.example.com"}, {IP: "192.0.2.1"}}
		}, []interface{}{"web", "LoadBalancer", "10.96.0.10", "192.0.2.1,192.0.2.9,lb.example.com,198.51.100.7", "80/TCP", "10m", "app=web"}},
		{"external IPs", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"} },
			[]interface{}{"web", "ClusterIP", "10.96.0.10", "192.0.2.1,192.0.2.2", "80/TCP", "10m", "app=web"}},
		{"headless without ports or selector", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports, s.Spec.Selector = "None", nil, nil
		}, []interface{}{"web", "ClusterIP", "None", "<none>", "<none>", "10m", "<none>"}},
		{"external name", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "", "db.example.com", nil
		}, []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "10m", "app=web"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := clusterIPService()
			svc.CreationTimestamp = age
			tc.mutate(svc)
			Default(svc)
			normalizeClusterIPs(svc, nil)
			got := r.Cells(svc)
			if len(got) != len(r.Columns) || !slices.Equal(got, tc.want) {
				t.Errorf("cells = %q, want %q", got, tc.want)
			}
		})
	}
	if r.Columns[6].Name != "Selector" || r.Columns[6].Priority != 1 || r.Columns[4].Name != "Port(s)" {
		t.Errorf("columns = %+v", r.Columns)
	}
}
