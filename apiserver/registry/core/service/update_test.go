package service

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/core/internal/fieldtest"
)

// stored returns a service as the store keeps it after create and
// allocation.
func stored(mutate func(*corev1.Service)) *corev1.Service {
	svc := clusterIPService()
	if mutate != nil {
		mutate(svc)
	}
	return created(Resource(), svc)
}

// updated runs an update request through Default and PrepareForUpdate.
func updated(req, old *corev1.Service) *corev1.Service {
	r := Resource()
	r.Default(req)
	r.PrepareForUpdate(ctx, req, old)
	return req
}

func nodePortService(s *corev1.Service) {
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "https", Port: 443, NodePort: 30443}}
}

func TestUpdateClusterIPImmutable(t *testing.T) {
	old := stored(nil)
	req := old.DeepCopy()
	req.Spec.ClusterIP = "10.96.0.99"
	svc := updated(req, old)
	errs := Resource().ValidateUpdate(ctx, svc, old)
	fieldtest.Expect(t, errs, "spec.clusterIPs[0]: Invalid value")
	fieldtest.ExpectDetail(t, errs, "spec.clusterIPs[0]", "may not change once set")
}

func TestUpdateKeepsAllocatedValues(t *testing.T) {
	old := stored(nodePortService)
	// A re-applied manifest without clusterIP or node ports, ports reordered.
	req := clusterIPService()
	req.Spec.ClusterIP = ""
	req.Spec.Type = corev1.ServiceTypeNodePort
	req.Spec.Ports = []corev1.ServicePort{{Name: "https", Port: 443}, {Name: "http", Port: 80}}
	svc := updated(req, old)
	if svc.Spec.ClusterIP != "10.96.0.10" || !slices.Equal(svc.Spec.ClusterIPs, []string{"10.96.0.10"}) {
		t.Errorf("clusterIP %q / %v not kept", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	if svc.Spec.Ports[0].NodePort != 30443 || svc.Spec.Ports[1].NodePort != 30080 {
		t.Errorf("node ports not kept by name: %+v", svc.Spec.Ports)
	}
	fieldtest.Expect(t, Resource().ValidateUpdate(ctx, svc, old))
}

func TestUpdateNodePortNotReusedWhenTaken(t *testing.T) {
	old := stored(nodePortService)
	req := old.DeepCopy()
	// "https" now takes the node port "http" had; "http" must not get it back.
	req.Spec.Ports[0].NodePort = 0
	req.Spec.Ports[1].NodePort = 30080
	svc := updated(req, old)
	if svc.Spec.Ports[0].NodePort != 0 {
		t.Errorf("node port %d reused", svc.Spec.Ports[0].NodePort)
	}
}

func TestUpdateTypeChanges(t *testing.T) {
	t.Run("node port to cluster IP", func(t *testing.T) {
		old := stored(nodePortService)
		req := old.DeepCopy()
		req.Spec.Type = corev1.ServiceTypeClusterIP
		svc := updated(req, old)
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				t.Errorf("node port %d kept", p.NodePort)
			}
		}
		if svc.Spec.ExternalTrafficPolicy != "" {
			t.Errorf("externalTrafficPolicy %q kept", svc.Spec.ExternalTrafficPolicy)
		}
		fieldtest.Expect(t, Resource().ValidateUpdate(ctx, svc, old))
	})
	t.Run("cluster IP to external name", func(t *testing.T) {
		old := stored(nil)
		req := old.DeepCopy()
		req.Spec.Type, req.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
		svc := updated(req, old)
		if svc.Spec.ClusterIP != "" || svc.Spec.ClusterIPs != nil || svc.Spec.IPFamilies != nil || svc.Spec.IPFamilyPolicy != nil {
			t.Errorf("cluster IP fields kept: %+v", svc.Spec)
		}
		fieldtest.Expect(t, Resource().ValidateUpdate(ctx, svc, old))
	})
	t.Run("load balancer to cluster IP", func(t *testing.T) {
		old := stored(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
			s.Spec.Ports[0].NodePort = 31000
		})
		old.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
		req := old.DeepCopy()
		req.Status = corev1.ServiceStatus{}
		req.Spec.Type = corev1.ServiceTypeClusterIP
		svc := updated(req, old)
		if svc.Spec.AllocateLoadBalancerNodePorts != nil || svc.Spec.LoadBalancerClass != nil || len(svc.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("load balancer fields kept: %+v / %+v", svc.Spec, svc.Status)
		}
		fieldtest.Expect(t, Resource().ValidateUpdate(ctx, svc, old))
	})
}

func TestUpdateKeepsStatus(t *testing.T) {
	old := stored(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	old.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	req := old.DeepCopy()
	req.Status = corev1.ServiceStatus{}
	svc := updated(req, old)
	if len(svc.Status.LoadBalancer.Ingress) != 1 {
		t.Errorf("status = %+v", svc.Status)
	}
}

func TestUpdateImmutables(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Service)
		change func(*corev1.Service)
		want   []string
	}{
		{"loadBalancerClass", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.LoadBalancerClass = corev1.ServiceTypeLoadBalancer, ptr.To("example.com/a")
		}, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/b") }, []string{"spec.loadBalancerClass: Invalid value"}},
		{"healthCheckNodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy, s.Spec.HealthCheckNodePort = corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, 31500
		}, func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 31501 }, []string{"spec.healthCheckNodePort: Forbidden"}},
		{"ipFamilies", nil, func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, []string{"spec.ipFamilies[0]: Invalid value", "spec.clusterIPs[0]: Invalid value"}},
		{"selector may change", nil, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "other"} }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := stored(tc.old)
			req := old.DeepCopy()
			tc.change(req)
			svc := updated(req, old)
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, svc, old), tc.want...)
		})
	}
}

func TestUpdateDualStackDowngrade(t *testing.T) {
	r := ResourceWithIPFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol)
	old := clusterIPService()
	old.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
	old.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
	created(r, old)
	if !slices.Equal(old.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}) {
		t.Fatalf("families = %v", old.Spec.IPFamilies)
	}
	req := old.DeepCopy()
	req.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	r.Default(req)
	r.PrepareForUpdate(ctx, req, old)
	if !slices.Equal(req.Spec.ClusterIPs, []string{"10.96.0.10"}) || !slices.Equal(req.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) {
		t.Errorf("downgrade left %v / %v", req.Spec.ClusterIPs, req.Spec.IPFamilies)
	}
	fieldtest.Expect(t, r.ValidateUpdate(ctx, req, old))

	// Dropping the secondary IP without SingleStack is refused.
	req = old.DeepCopy()
	req.Spec.ClusterIPs = req.Spec.ClusterIPs[:1]
	r.Default(req)
	r.PrepareForUpdate(ctx, req, old)
	fieldtest.Expect(t, r.ValidateUpdate(ctx, req, old), "spec.ipFamilyPolicy: Invalid value")
}
