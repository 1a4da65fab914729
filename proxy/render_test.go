package proxy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Short names of the per-service objects of ns/web's port http.
const (
	webSvc  = "{service-ns/web/tcp/http}"
	webLoc  = "{local-ns/web/tcp/http}"
	webExt  = "{external-ns/web/tcp/http}"
	webFW   = "{firewall-ns/web/tcp/http}"
	webEP2  = "{endpoint-ns/web/tcp/http__10.42.0.2/8080}"
	webEP3  = "{endpoint-ns/web/tcp/http__10.42.0.3/8080}"
	webAff2 = "{affinity-ns/web/tcp/http__10.42.0.2/8080}"
	webAff3 = "{affinity-ns/web/tcp/http__10.42.0.3/8080}"
)

func TestServiceKinds(t *testing.T) {
	local := ep("10.42.0.2", testNode)
	remote := ep("10.42.0.3", "node2")
	tests := []struct {
		name  string
		objs  []any
		want  []string
		lacks []string
		zone  string
	}{{
		name: "cluster ip",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), local, remote)},
		want: []string{
			"element cluster-ips { 10.96.0.10 }",
			"element service-ips { 10.96.0.10 . tcp . 80 : goto " + webSvc + " }",
			"rule " + webSvc + " ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
			"rule " + webSvc + " numgen random mod 2 vmap { 0 : goto " + webEP2 + " , 1 : goto " + webEP3 + " }",
			"rule " + webEP2 + " ip saddr 10.42.0.2 jump mark-for-masquerade",
			"rule " + webEP2 + " meta l4proto tcp dnat to 10.42.0.2:8080",
			"rule " + webEP3 + " meta l4proto tcp dnat to 10.42.0.3:8080",
		},
		lacks: []string{"external-", "local-", "no-endpoint-services { 1", "service-nodeports { tcp"},
	}, {
		name: "no endpoints is rejected",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts())},
		want: []string{
			"element cluster-ips { 10.96.0.10 }",
			`element no-endpoint-services { 10.96.0.10 . tcp . 80 comment "ns/web:http" : goto reject-chain }`,
		},
		lacks: []string{"service-ips { 1", webSvc},
	}, {
		name:  "only ready endpoints get traffic",
		objs:  []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), local, ep("10.42.0.3", "node2", notReady))},
		want:  []string{"rule " + webSvc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }"},
		lacks: []string{webEP3},
	}, {
		name: "not ready only is rejected",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), ep("10.42.0.3", "node2", notReady))},
		want: []string{`element no-endpoint-services { 10.96.0.10 . tcp . 80 comment "ns/web:http" : goto reject-chain }`},
	}, {
		name: "serving terminating endpoints when none is ready",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(),
			ep("10.42.0.2", testNode, terminating(true)), ep("10.42.0.3", "node2", terminating(false)))},
		want:  []string{"rule " + webSvc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }"},
		lacks: []string{webEP3},
	}, {
		name: "ready endpoints win over terminating ones",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(),
			ep("10.42.0.2", testNode, terminating(true)), remote)},
		want:  []string{"rule " + webSvc + " numgen random mod 1 vmap { 0 : goto " + webEP3 + " }"},
		lacks: []string{webEP2},
	}, {
		name: "node port, cluster policy",
		objs: []any{service("web", "10.96.0.10", nodePort(30080)), slice("web", "web-1", httpPorts(), local, remote)},
		want: []string{
			"element nodeport-ips { 192.168.0.10 }",
			"element service-nodeports { tcp . 30080 : goto " + webExt + " }",
			"rule " + webExt + " jump mark-for-masquerade",
			"rule " + webExt + " goto " + webSvc,
			"rule " + webSvc + " numgen random mod 2 vmap { 0 : goto " + webEP2 + " , 1 : goto " + webEP3 + " }",
		},
		// NodePorts are not served on localhost.
		lacks: []string{"nodeport-ips { 127.0.0.1 }", "local-"},
	}, {
		name: "node port, local policy",
		objs: []any{service("web", "10.96.0.10", nodePort(30080), etpLocal), slice("web", "web-1", httpPorts(), local, remote)},
		want: []string{
			"element service-nodeports { tcp . 30080 : goto " + webExt + " }",
			"rule " + webExt + ` ip saddr 10.42.0.0/16 goto ` + webSvc + ` comment "short-circuit pod traffic"`,
			"rule " + webExt + ` fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`,
			"rule " + webExt + ` fib saddr type local goto ` + webSvc + ` comment "short-circuit local traffic"`,
			"rule " + webExt + " goto " + webLoc,
			"rule " + webLoc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }",
			"rule " + webSvc + " numgen random mod 2 vmap { 0 : goto " + webEP2 + " , 1 : goto " + webEP3 + " }",
		},
		lacks: []string{webExt + " jump mark-for-masquerade", "no-endpoint-nodeports { tcp"},
	}, {
		name: "node port, local policy, no local endpoint: external traffic dropped",
		objs: []any{service("web", "10.96.0.10", nodePort(30080), etpLocal), slice("web", "web-1", httpPorts(), remote)},
		want: []string{
			`element no-endpoint-nodeports { tcp . 30080 comment "ns/web:http" : drop }`,
			"element service-nodeports { tcp . 30080 : goto " + webExt + " }",
			"element service-ips { 10.96.0.10 . tcp . 80 : goto " + webSvc + " }",
		},
		lacks: []string{"goto " + webLoc, webLoc},
	}, {
		name: "internal traffic policy local",
		objs: []any{service("web", "10.96.0.10", itpLocal), slice("web", "web-1", httpPorts(), local, remote)},
		want: []string{
			"element service-ips { 10.96.0.10 . tcp . 80 : goto " + webLoc + " }",
			"rule " + webLoc + " ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
			"rule " + webLoc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }",
		},
		lacks: []string{webSvc, webEP3},
	}, {
		name:  "internal traffic policy local, no local endpoint: dropped",
		objs:  []any{service("web", "10.96.0.10", itpLocal), slice("web", "web-1", httpPorts(), remote)},
		want:  []string{`element no-endpoint-services { 10.96.0.10 . tcp . 80 comment "ns/web:http" : drop }`},
		lacks: []string{"service-ips { 1"},
	}, {
		name: "load balancer with source ranges",
		objs: []any{service("web", "10.96.0.10", loadBalancer(30080, "203.0.113.7"), func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{" 198.51.100.0/24", "192.168.0.0/16"}
		}), slice("web", "web-1", httpPorts(), local)},
		want: []string{
			"element service-ips { 203.0.113.7 . tcp . 80 : goto " + webExt + " }",
			"element firewall-ips { 203.0.113.7 . tcp . 80 : goto " + webFW + " }",
			// The node (192.168.0.10) is in a range: the VIP may be the
			// source of its own traffic.
			"rule " + webFW + " ip saddr != { 198.51.100.0/24 , 192.168.0.0/16 , 203.0.113.7 } drop",
			"element service-nodeports { tcp . 30080 : goto " + webExt + " }",
		},
	}, {
		name: "load balancer in proxy mode gets no rules for its address",
		objs: []any{service("web", "10.96.0.10", loadBalancer(30080, "203.0.113.7"), func(s *corev1.Service) {
			mode := corev1.LoadBalancerIPModeProxy
			s.Status.LoadBalancer.Ingress[0].IPMode = &mode
		}), slice("web", "web-1", httpPorts(), local)},
		want:  []string{"element service-nodeports { tcp . 30080 : goto " + webExt + " }"},
		lacks: []string{"203.0.113.7"},
	}, {
		name: "external IPs",
		objs: []any{service("web", "10.96.0.10", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.9", "2001:db8::1"} }),
			slice("web", "web-1", httpPorts(), local)},
		want: []string{
			"element service-ips { 198.51.100.9 . tcp . 80 : goto " + webExt + " }",
			"rule " + webExt + " jump mark-for-masquerade",
			"rule " + webExt + " goto " + webSvc,
		},
		lacks: []string{"2001:db8::1"},
	}, {
		name:  "external IPs without endpoints are rejected",
		objs:  []any{service("web", "10.96.0.10", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.9"} })},
		want:  []string{`element no-endpoint-services { 198.51.100.9 . tcp . 80 comment "ns/web:http" : goto reject-chain }`},
		lacks: []string{webExt},
	}, {
		name: "client IP affinity",
		objs: []any{service("web", "10.96.0.10", affinity(600)), slice("web", "web-1", httpPorts(), local, remote)},
		want: []string{
			"set " + webAff2 + " { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }",
			"set " + webAff3 + " { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }",
			"rule " + webSvc + " ip saddr @" + webAff2 + " goto " + webEP2,
			"rule " + webSvc + " ip saddr @" + webAff3 + " goto " + webEP3,
			"rule " + webEP2 + " update @" + webAff2 + " { ip saddr }",
		},
	}, {
		name: "client IP affinity defaults to three hours",
		objs: []any{service("web", "10.96.0.10", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }),
			slice("web", "web-1", httpPorts(), local)},
		want: []string{"set " + webAff2 + " { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }"},
	}, {
		name:  "headless",
		objs:  []any{service("web", "None"), slice("web", "web-1", httpPorts(), local)},
		lacks: []string{"ns/web", "cluster-ips { 1"},
	}, {
		name: "external name",
		objs: []any{service("web", "", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		})},
		lacks: []string{"ns/web", "cluster-ips { 1"},
	}, {
		name: "another proxy's service",
		objs: []any{service("web", "10.96.0.10", func(s *corev1.Service) {
			s.Labels = map[string]string{labelServiceProxyName: "other"}
		}), slice("web", "web-1", httpPorts(), local)},
		lacks: []string{"ns/web", "cluster-ips { 1"},
	}, {
		name: "named ports and protocols",
		objs: []any{
			service("web", "10.96.0.10", withPorts(
				corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
				corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				corev1.ServicePort{Name: "sig", Port: 3868, Protocol: corev1.ProtocolSCTP},
			)),
			slice("web", "web-1", []discoveryv1.EndpointPort{
				epPort("dns", 5353, corev1.ProtocolUDP), epPort("http", 8080, corev1.ProtocolTCP), epPort("sig", 3869, corev1.ProtocolSCTP),
			}, local),
		},
		want: []string{
			"element service-ips { 10.96.0.10 . tcp . 80 : goto " + webSvc + " }",
			"element service-ips { 10.96.0.10 . udp . 53 : goto {service-ns/web/udp/dns} }",
			"element service-ips { 10.96.0.10 . sctp . 3868 : goto {service-ns/web/sctp/sig} }",
			"rule {endpoint-ns/web/udp/dns__10.42.0.2/5353} meta l4proto udp dnat to 10.42.0.2:5353",
			"rule {endpoint-ns/web/sctp/sig__10.42.0.2/3869} meta l4proto sctp dnat to 10.42.0.2:3869",
			"rule " + webEP2 + " meta l4proto tcp dnat to 10.42.0.2:8080",
			"rule {service-ns/web/udp/dns} ip daddr 10.96.0.10 udp dport 53 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
		},
	}, {
		name: "an endpoint in two slices counts once",
		objs: []any{service("web", "10.96.0.10"),
			slice("web", "web-1", httpPorts(), local), slice("web", "web-2", httpPorts(), local, remote)},
		want: []string{"rule " + webSvc + " numgen random mod 2 vmap { 0 : goto " + webEP2 + " , 1 : goto " + webEP3 + " }"},
	}, {
		name: "a duplicate endpoint is local if any copy is",
		objs: []any{service("web", "10.96.0.10", itpLocal),
			slice("web", "web-1", httpPorts(), ep("10.42.0.2", "node2")), slice("web", "web-2", httpPorts(), local)},
		want: []string{"rule " + webLoc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }"},
	}, {
		name: "local serving-terminating endpoints when no local one is ready",
		objs: []any{service("web", "10.96.0.10", nodePort(30080), etpLocal), slice("web", "web-1", httpPorts(),
			ep("10.42.0.2", testNode, terminating(true)), remote)},
		want: []string{
			"rule " + webLoc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }",
			"rule " + webSvc + " numgen random mod 1 vmap { 0 : goto " + webEP3 + " }",
		},
	}, {
		name: "zone hints",
		zone: "z1",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(),
			ep("10.42.0.2", testNode, zoneHints("z1")), ep("10.42.0.3", "node2", zoneHints("z2")))},
		want:  []string{"rule " + webSvc + " numgen random mod 1 vmap { 0 : goto " + webEP2 + " }"},
		lacks: []string{webEP3},
	}, {
		name: "zone hints ignored unless every ready endpoint has one",
		zone: "z1",
		objs: []any{service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(),
			ep("10.42.0.2", testNode, zoneHints("z1")), remote)},
		want: []string{"rule " + webSvc + " numgen random mod 2 vmap { 0 : goto " + webEP2 + " , 1 : goto " + webEP3 + " }"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t, func(c *Config) { c.Zone = tc.zone })
			u.add(tc.objs...)
			u.sync()
			u.assertHas(tc.want...)
			u.assertLacks(tc.lacks...)
		})
	}
}

func TestBaseTable(t *testing.T) {
	u := newUnit(t)
	res := u.sync()
	if !res.Full || !res.Transaction {
		t.Fatalf("first sync: full=%v transaction=%v, want both", res.Full, res.Transaction)
	}
	u.assertHas(
		"chain nat-prerouting { type nat hook prerouting priority -100 ; }",
		"chain nat-output { type nat hook output priority -100 ; }",
		"chain nat-postrouting { type nat hook postrouting priority 100 ; }",
		"rule nat-prerouting jump services",
		"rule nat-output jump services",
		"rule nat-postrouting jump masquerading",
		"rule filter-input ct state new jump service-endpoints-check",
		"rule filter-forward ct state new jump cluster-ips-check",
		"rule masquerading mark and 0x4000 == 0 return",
		"rule masquerading masquerade fully-random",
		"rule mark-for-masquerade mark set mark or 0x4000",
		"rule services ip daddr . meta l4proto . th dport vmap @service-ips",
		"rule services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
		"rule reject-chain reject",
		"element nodeport-ips { 192.168.0.10 }",
	)
}
