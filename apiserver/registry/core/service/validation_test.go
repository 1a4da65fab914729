package service

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/core/internal/fieldtest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		// before runs ahead of defaulting, after between PrepareForCreate
		// and Validate.
		before, after func(*corev1.Service)
		want          []string
	}{
		{name: "valid"},
		{name: "no ports", before: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []string{"spec.ports: Required value"}},
		{name: "headless without ports", before: func(s *corev1.Service) { s.Spec.Ports, s.Spec.ClusterIP = nil, "None" }},
		{name: "external name", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.Ports, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", nil, "db.example.com."
		}},
		{name: "external name missing", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeExternalName, ""
		}, want: []string{"spec.externalName: Required value"}},
		{name: "external name with cluster IP", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
		}, want: []string{"spec.clusterIPs: Forbidden"}},
		{name: "external name invalid", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", "Bad_Name"
		}, want: []string{"spec.externalName: Invalid value"}},
		{name: "unnamed ports", before: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Port: 80}, {Port: 443}}
		}, want: []string{"spec.ports[0].name: Required value", "spec.ports[1].name: Required value"}},
		{name: "duplicate port names", before: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "http", Port: 443}}
		}, want: []string{"spec.ports[1].name: Duplicate value"}},
		{name: "bad port name", before: func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" }, want: []string{"spec.ports[0].name: Invalid value"}},
		{name: "port out of range", before: func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			want: []string{"spec.ports[0].port: Invalid value", "spec.ports[0].targetPort: Invalid value"}},
		{name: "bad target port name", before: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("-x") },
			want: []string{"spec.ports[0].targetPort: Invalid value"}},
		{name: "unsupported protocol", before: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" },
			want: []string{"spec.ports[0].protocol: Unsupported value"}},
		{name: "node port on cluster IP", before: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			want: []string{"spec.ports[0].nodePort: Forbidden"}},
		{name: "duplicate node ports", before: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80, NodePort: 30080}, {Name: "b", Port: 81, NodePort: 30080}}
		}, want: []string{"spec.ports[1].nodePort: Duplicate value"}},
		{name: "same node port, other protocol", before: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 53, NodePort: 30053}, {Name: "b", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}
		}},
		{name: "duplicate ports", before: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}, want: []string{"spec.ports[1]: Duplicate value"}},
		{name: "bad selector", before: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"bad key": "x"} },
			want: []string{"spec.selector: Invalid value"}},
		{name: "client IP timeout too long", before: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](86401)}}
		}, want: []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"}},
		{name: "affinity config with None", after: func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}, want: []string{"spec.sessionAffinityConfig: Forbidden"}},
		{name: "unsupported affinity", before: func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" },
			want: []string{"spec.sessionAffinity: Unsupported value"}},
		{name: "unsupported type", before: func(s *corev1.Service) { s.Spec.Type = "Magic" },
			want: []string{"spec.type: Unsupported value"}},
		{name: "headless node port", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeNodePort, "None"
		}, want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "headless load balancer", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeLoadBalancer, "None"
		}, want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "invalid cluster IP", before: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" },
			want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "legacy leading zeros accepted", before: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.010" }},
		{name: "clusterIPs disagree", after: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			want: []string{"spec.clusterIPs: Invalid value"}},
		{name: "clusterIPs without clusterIP", after: func(s *corev1.Service) { s.Spec.ClusterIP = "" },
			want: []string{"spec.clusterIPs: Invalid value"}},
		{name: "family disagrees with IP", after: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "two IPs of one family", after: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.10", "10.96.0.11"}
		}, want: []string{"spec.clusterIPs: Invalid value"}},
		{name: "loopback external IP", before: func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			want: []string{"spec.externalIPs[0]: Invalid value"}},
		{name: "source ranges on cluster IP", before: func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			want: []string{"spec.LoadBalancerSourceRanges: Forbidden"}},
		{name: "bad source range", before: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerSourceRanges = []string{" 10.0.0.0/8 ", "10.0.0.1"}
		}, want: []string{"spec.LoadBalancerSourceRanges[1]: Invalid value"}},
		{name: "source range annotation on cluster IP", before: func(s *corev1.Service) {
			s.Annotations = map[string]string{corev1.AnnotationLoadBalancerSourceRangesKey: "10.0.0.0/8"}
		}, want: []string{"metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Forbidden"}},
		{name: "allocateLoadBalancerNodePorts on cluster IP", before: func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true) },
			want: []string{"spec.allocateLoadBalancerNodePorts: Forbidden"}},
		{name: "allocateLoadBalancerNodePorts missing", after: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, want: []string{"allocateLoadBalancerNodePorts: Required value"}},
		{name: "loadBalancerClass on cluster IP", before: func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/lb") },
			want: []string{"spec.loadBalancerClass: Forbidden"}},
		{name: "bad loadBalancerClass", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.LoadBalancerClass = corev1.ServiceTypeLoadBalancer, ptr.To("bad class")
		}, want: []string{"spec.loadBalancerClass: Invalid value"}},
		{name: "external traffic policy on cluster IP", after: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: []string{"spec.externalTrafficPolicy: Invalid value"}},
		{name: "external traffic policy missing", after: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}, want: []string{"spec.externalTrafficPolicy: Required value"}},
		{name: "health check node port on cluster IP", before: func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 30000 },
			want: []string{"spec.healthCheckNodePort: Invalid value"}},
		{name: "local load balancer before allocation", before: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal
		}},
		{name: "internal traffic policy missing", after: func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil },
			want: []string{"spec.internalTrafficPolicy: Required value"}},
		{name: "unsupported internal traffic policy", before: func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicy("Nearby"))
		}, want: []string{"spec.internalTrafficPolicy: Unsupported value"}},
		{name: "unsupported traffic distribution", before: func(s *corev1.Service) { s.Spec.TrafficDistribution = ptr.To("PreferSameZone") },
			want: []string{"spec.trafficDistribution: Unsupported value"}},
		{name: "topology annotations disagree", before: func(s *corev1.Service) {
			s.Annotations = map[string]string{corev1.AnnotationTopologyMode: "Auto", corev1.DeprecatedAnnotationTopologyAwareHints: "Disabled"}
		}, want: []string{"metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value"}},
		{name: "dual-stack required on single-stack cluster", before: func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		}, want: []string{"spec.ipFamilyPolicy: Invalid value"}},
		{name: "family not configured", before: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.IPFamilies = "", []corev1.IPFamily{corev1.IPv6Protocol}
		}, want: []string{"spec.ipFamilies[0]: Invalid value"}},
		{name: "IP of an unconfigured family", before: func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::1" },
			want: []string{"spec.clusterIPs[0]: Invalid value"}},
		{name: "headless without selector may name any family", before: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Selector, s.Spec.IPFamilies = "None", nil, []corev1.IPFamily{corev1.IPv6Protocol}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Resource()
			svc := clusterIPService()
			if tc.before != nil {
				tc.before(svc)
			}
			created(r, svc)
			if tc.after != nil {
				tc.after(svc)
			}
			fieldtest.Expect(t, r.Validate(ctx, svc), tc.want...)
		})
	}
}

func TestValidateMessages(t *testing.T) {
	r := Resource()
	svc := created(r, clusterIPService())
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "None", []string{"None"}
	svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	fieldtest.ExpectDetail(t, r.Validate(ctx, svc), "spec.clusterIPs[0]", "may not be set to 'None' for LoadBalancer services")
}

func TestValidateStatus(t *testing.T) {
	tests := []struct {
		name    string
		typ     corev1.ServiceType
		ingress []corev1.LoadBalancerIngress
		want    []string
	}{
		{"ok", corev1.ServiceTypeLoadBalancer, []corev1.LoadBalancerIngress{{IP: "192.0.2.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}}, nil},
		{"not a load balancer", corev1.ServiceTypeClusterIP, []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}, []string{"status.loadBalancer.ingress: Forbidden"}},
		{"ip without mode", corev1.ServiceTypeLoadBalancer, []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}, []string{"status.loadBalancer.ingress[0].ipMode: Required value"}},
		{"mode without ip", corev1.ServiceTypeLoadBalancer, []corev1.LoadBalancerIngress{{Hostname: "a.example.com", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}}, []string{"status.loadBalancer.ingress[0].ipMode: Forbidden"}},
		{"bad ip", corev1.ServiceTypeLoadBalancer, []corev1.LoadBalancerIngress{{IP: "x", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}, []string{"status.loadBalancer.ingress[0].ip: Invalid value"}},
		{"hostname is an IP", corev1.ServiceTypeLoadBalancer, []corev1.LoadBalancerIngress{{Hostname: "192.0.2.1"}}, []string{"status.loadBalancer.ingress[0].hostname: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := clusterIPService()
			svc.Spec.Type = tc.typ
			svc.Status.LoadBalancer.Ingress = tc.ingress
			fieldtest.Expect(t, Resource().Status.ValidateUpdate(ctx, svc, clusterIPService()), tc.want...)
		})
	}
}
