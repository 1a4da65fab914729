package proxy

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const dialTimeout = 2 * time.Second

// kslice is an EndpointSlice of the kernel tests' pods.
func kslice(svc, name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return slice(svc, name, []discoveryv1.EndpointPort{
		epPort("http", kTCPPort, corev1.ProtocolTCP), epPort("dns", kUDPPort, corev1.ProtocolUDP),
	}, eps...)
}

// kep is pod's endpoint, on this node unless node says otherwise.
func (e *kenv) kep(pod string, mods ...epMod) discoveryv1.Endpoint {
	return ep(e.pods[pod].ip, kNodeName, mods...)
}

// countPods dials addr n times from ns and counts the answering pods.
func (e *kenv) countPods(t *testing.T, from string, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		r, err := dial(e.ns(from), addr, dialTimeout)
		if err != nil {
			t.Fatalf("dial %s from %s: %v", addr, from, err)
		}
		got[r.pod]++
	}
	return got
}

func (e *kenv) ns(name string) netns.NsHandle {
	switch name {
	case "node":
		return e.node
	case "client":
		return e.client
	}
	return e.pods[name].ns
}

func TestKernelClusterIP(t *testing.T) {
	e := newKernelEnv(t, 3)
	k := e.startProxy()
	if !hostHasTableIn(t, e, k.table) || hostHasTable(k.table) {
		t.Fatalf("table %s must be in the node namespace only", k.table)
	}

	k.apply(service("web", "10.96.0.10"), kslice("web", "web-1", e.kep("p1")))
	const vip = "10.96.0.10:80"
	for _, tc := range []struct{ from, src string }{
		{"p3", e.pods["p3"].ip}, // pod: no masquerade
		{"client", kPodGateway}, // outside the cluster CIDR: masqueraded
		{"node", kPodGateway},   // the node itself (output hook), masqueraded
		{"p1", kPodGateway},     // hairpin: masqueraded, or it could not answer itself
	} {
		r, err := dial(e.ns(tc.from), vip, dialTimeout)
		if err != nil {
			t.Fatalf("from %s: %v", tc.from, err)
		}
		if r.pod != "p1" || r.src != tc.src {
			t.Errorf("from %s: answered by %s seeing %s, want p1 seeing %s", tc.from, r.pod, r.src, tc.src)
		}
	}

	// Traffic follows the endpoints.
	k.apply(kslice("web", "web-1", e.kep("p2")))
	if got := e.countPods(t, "p3", vip, 10); got["p2"] != 10 {
		t.Errorf("after the move: %v, want all on p2", got)
	}

	// Only ready endpoints get traffic.
	k.apply(kslice("web", "web-1", e.kep("p1", notReady), e.kep("p2")))
	if got := e.countPods(t, "p3", vip, 20); got["p2"] != 20 {
		t.Errorf("with p1 not ready: %v, want all on p2", got)
	}
	// Two ready endpoints share the traffic.
	k.apply(kslice("web", "web-1", e.kep("p1"), e.kep("p2")))
	if got := e.countPods(t, "p3", vip, 30); got["p1"] == 0 || got["p2"] == 0 {
		t.Errorf("random balancing: %v, want both", got)
	}

	// A port the Service does not have is rejected, not black-holed.
	start := time.Now()
	if _, err := dial(e.ns("p3"), "10.96.0.10:81", dialTimeout); !isRefused(err) || time.Since(start) > time.Second {
		t.Errorf("undefined port: %v after %v, want refused at once", err, time.Since(start))
	}
}

func TestKernelNoEndpointsRejected(t *testing.T) {
	e := newKernelEnv(t, 1)
	k := e.startProxy()
	k.apply(service("web", "10.96.0.10", nodePort(30080)), kslice("web", "web-1"))
	for _, tc := range []struct{ from, addr string }{
		{"p1", "10.96.0.10:80"},
		{"node", "10.96.0.10:80"},
		{"client", kNodeIP + ":30080"},
	} {
		start := time.Now()
		_, err := dial(e.ns(tc.from), tc.addr, dialTimeout)
		if !isRefused(err) || time.Since(start) > time.Second {
			t.Errorf("%s from %s: %v after %v, want refused at once", tc.addr, tc.from, err, time.Since(start))
		}
	}
	// UDP: an ICMP port unreachable.
	c := udpSocket(t, e.ns("p1"))
	if _, err := query(c, "10.96.0.10:80", 300*time.Millisecond); err == nil {
		t.Error("udp to a service without endpoints answered")
	}
	uc := connectedUDP(t, e, "p1", "10.96.0.10:80")
	if _, err := uc.Write([]byte("x")); err == nil {
		buf := make([]byte, 10)
		_ = uc.SetReadDeadline(time.Now().Add(dialTimeout))
		if _, err = uc.Read(buf); !isRefused(err) {
			t.Errorf("udp read: %v, want refused", err)
		}
	}

	// An endpoint appears: served.
	k.apply(kslice("web", "web-1", e.kep("p1")))
	if r, err := dial(e.ns("client"), kNodeIP+":30080", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("after the endpoint came: %v %v", r, err)
	}
}

func connectedUDP(t *testing.T, e *kenv, from, addr string) *net.UDPConn {
	var c *net.UDPConn
	if err := inNS(e.ns(from), func() error {
		ra, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", nil, ra)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKernelExternalTraffic(t *testing.T) {
	e := newKernelEnv(t, 3)
	k := e.startProxy()
	lb := func(s *corev1.Service) {
		loadBalancer(30080, "203.0.113.10")(s)
		s.Spec.ExternalIPs = []string{"198.51.100.10"}
	}
	k.apply(service("web", "10.96.0.10", lb), kslice("web", "web-1", e.kep("p1")))
	addrs := []string{kNodeIP + ":30080", "203.0.113.10:80", "198.51.100.10:80"}

	// Cluster policy: masqueraded.
	for _, addr := range addrs {
		r, err := dial(e.ns("client"), addr, dialTimeout)
		if err != nil || r.pod != "p1" || r.src != kPodGateway {
			t.Errorf("cluster policy %s: %+v %v, want p1 seeing %s", addr, r, err, kPodGateway)
		}
	}
	// NodePorts are not served on localhost.
	if _, err := dial(e.ns("node"), "127.0.0.1:30080", 300*time.Millisecond); err == nil {
		t.Error("NodePort served on 127.0.0.1")
	}

	// loadBalancerSourceRanges filter the LB address only.
	ranges := func(r string) func(*corev1.Service) {
		return func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{r} }
	}
	k.apply(service("web", "10.96.0.10", lb, ranges("10.0.0.0/8")))
	if _, err := dial(e.ns("client"), "203.0.113.10:80", 300*time.Millisecond); err == nil {
		t.Error("LB address answered a client outside loadBalancerSourceRanges")
	}
	if r, err := dial(e.ns("client"), kNodeIP+":30080", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("NodePort with source ranges: %+v %v", r, err)
	}
	k.apply(service("web", "10.96.0.10", lb, ranges("192.168.77.0/24")))
	if r, err := dial(e.ns("client"), "203.0.113.10:80", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("LB address with the client in range: %+v %v", r, err)
	}

	// Local policy with a local endpoint: the client's address is kept.
	k.apply(service("web", "10.96.0.10", lb, etpLocal))
	for _, addr := range addrs {
		r, err := dial(e.ns("client"), addr, dialTimeout)
		if err != nil || r.pod != "p1" || r.src != kClientIP {
			t.Errorf("local policy %s: %+v %v, want p1 seeing %s", addr, r, err, kClientIP)
		}
	}
	// Pods short-circuit to any endpoint.
	if r, err := dial(e.ns("p3"), kNodeIP+":30080", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("pod to local-policy NodePort: %+v %v", r, err)
	}

	// Local policy, endpoint on another node only: external traffic is
	// dropped, cluster traffic still served.
	k.apply(kslice("web", "web-1", ep(e.pods["p2"].ip, "other-node")))
	for _, addr := range addrs {
		if r, err := dial(e.ns("client"), addr, 300*time.Millisecond); err == nil {
			t.Errorf("local policy without local endpoint: %s answered by %s", addr, r.pod)
		} else if isRefused(err) {
			t.Errorf("%s: refused, want dropped", addr)
		}
	}
	if r, err := dial(e.ns("p3"), "10.96.0.10:80", dialTimeout); err != nil || r.pod != "p2" {
		t.Errorf("cluster IP with a remote endpoint: %+v %v", r, err)
	}
}

func TestKernelInternalTrafficPolicyLocal(t *testing.T) {
	e := newKernelEnv(t, 3)
	k := e.startProxy()
	k.apply(service("web", "10.96.0.10", itpLocal),
		kslice("web", "web-1", e.kep("p1"), ep(e.pods["p2"].ip, "other-node")))
	if got := e.countPods(t, "p3", "10.96.0.10:80", 20); got["p1"] != 20 {
		t.Errorf("internal local policy: %v, want all on the local p1", got)
	}
	k.apply(kslice("web", "web-1", ep(e.pods["p2"].ip, "other-node")))
	if _, err := dial(e.ns("p3"), "10.96.0.10:80", 300*time.Millisecond); err == nil || isRefused(err) {
		t.Errorf("no local endpoint: %v, want dropped", err)
	}
}

func TestKernelSessionAffinity(t *testing.T) {
	e := newKernelEnv(t, 3)
	k := e.startProxy()
	k.apply(service("web", "10.96.0.10", affinity(60)), kslice("web", "web-1", e.kep("p1"), e.kep("p2")))
	for _, from := range []string{"p3", "client"} {
		got := e.countPods(t, from, "10.96.0.10:80", 20)
		if len(got) != 1 {
			t.Errorf("affinity from %s: %v, want one pod", from, got)
		}
	}
	// A new timeout recreates the sets in the same transaction that
	// rewrites their users.
	k.apply(service("web", "10.96.0.10", affinity(120)))
	if got := e.countPods(t, "p3", "10.96.0.10:80", 10); len(got) != 1 {
		t.Errorf("affinity after the timeout change: %v", got)
	}
	// Without affinity, both endpoints get connections again.
	k.apply(service("web", "10.96.0.10"))
	if got := e.countPods(t, "p3", "10.96.0.10:80", 30); len(got) != 2 {
		t.Errorf("without affinity: %v, want both pods", got)
	}
	if s := k.p.Stats(); s.Failures != 0 {
		t.Errorf("failed syncs: %+v", s)
	}
}

func TestKernelUDP(t *testing.T) {
	e := newKernelEnv(t, 3)
	k := e.startProxy()
	dns := withPorts(corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
	k.apply(service("dns", "10.96.0.53", dns), kslice("dns", "dns-1", e.kep("p1")))
	c := udpSocket(t, e.ns("p3"))
	r, err := query(c, "10.96.0.53:53", dialTimeout)
	if err != nil || r.pod != "p1" || r.src != e.pods["p3"].ip {
		t.Fatalf("udp: %+v %v", r, err)
	}
	// p1 leaves (but keeps running): the same flow must move to p2, which
	// takes deleting its conntrack entry.
	k.apply(kslice("dns", "dns-1", e.kep("p2")))
	if r, err := query(c, "10.96.0.53:53", dialTimeout); err != nil || r.pod != "p2" {
		t.Errorf("same udp flow after the endpoint moved: %+v %v, want p2", r, err)
	}
	// UDP from the node too.
	if r, err := query(udpSocket(t, e.ns("node")), "10.96.0.53:53", dialTimeout); err != nil || r.pod != "p2" {
		t.Errorf("udp from the node: %+v %v", r, err)
	}

	// The kernel takes the rules of an unnamed SCTP port with affinity.
	sctp := withPorts(corev1.ServicePort{Port: 3868, Protocol: corev1.ProtocolSCTP, NodePort: 30868})
	k.apply(service("sig", "10.96.0.68", sctp, affinity(10), func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }),
		slice("sig", "sig-1", []discoveryv1.EndpointPort{epPort("", 3868, corev1.ProtocolSCTP)}, e.kep("p1")))
	if !slices.Contains(k.chains(), expandNames("{endpoint-ns/sig/sctp/__10.42.0.2/3868}")) {
		t.Errorf("no SCTP endpoint chain in %v", k.chains())
	}
	if s := k.p.Stats(); s.Failures != 0 {
		t.Errorf("failed syncs: %+v", s)
	}
}

func TestKernelStaleChainsAndRebuild(t *testing.T) {
	e := newKernelEnv(t, 2)
	k := e.startProxy(func(c *Config) { c.SyncPeriod = 200 * time.Millisecond })
	k.apply(service("web", "10.96.0.10", affinity(30)), kslice("web", "web-1", e.kep("p1"), e.kep("p2")))
	ep2 := expandNames("{endpoint-ns/web/tcp/http__10.42.0.3/8080}")
	if !slices.Contains(k.chains(), ep2) {
		t.Fatalf("no %s in %v", ep2, k.chains())
	}
	k.apply(kslice("web", "web-1", e.kep("p1")))
	waitFor(t, 5*time.Second, "stale chain deleted", func() bool { return !slices.Contains(k.chains(), ep2) })
	if r, err := dial(e.ns("p2"), "10.96.0.10:80", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("after the stale chain went: %+v %v", r, err)
	}

	// Someone deletes the table: the periodic check rebuilds it.
	sh(t, "ip", "netns", "exec", e.prefix+"-node", "nft", "delete", "table", "ip", k.table)
	waitFor(t, 5*time.Second, "table rebuilt", func() bool {
		r, err := dial(e.ns("p2"), "10.96.0.10:80", 200*time.Millisecond)
		return err == nil && r.pod == "p1"
	})
	waitFor(t, time.Second, "second full sync counted", func() bool { return k.p.Stats().FullSyncs >= 2 })
}

func TestKernelRestartAndCleanup(t *testing.T) {
	e := newKernelEnv(t, 1)
	k := e.startProxy()
	k.apply(service("old", "10.96.0.10"), kslice("old", "old-1", e.kep("p1")))
	k.stop()
	// Rules stay when the proxy stops.
	if r, err := dial(e.ns("node"), "10.96.0.10:80", dialTimeout); err != nil || r.pod != "p1" {
		t.Fatalf("after stop: %+v %v", r, err)
	}

	// A new run starts from a clean table: the old Service is gone.
	k2 := e.startProxy()
	k2.apply(service("new", "10.96.0.11"), kslice("new", "new-1", e.kep("p1")))
	for _, c := range k2.chains() {
		if strings.Contains(c, "ns/old/") {
			t.Errorf("leftover chain %s", c)
		}
	}
	if r, err := dial(e.ns("node"), "10.96.0.11:80", dialTimeout); err != nil || r.pod != "p1" {
		t.Errorf("new service: %+v %v", r, err)
	}
	k2.stop()
	if err := k2.p.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hostHasTableIn(t, e, k2.table) {
		t.Error("table still there after Cleanup")
	}
	if err := k2.p.Cleanup(context.Background()); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// chains lists the per-service chains in the kernel.
func (k *kproxy) chains() []string {
	names, err := k.nft.List(context.Background(), "chains")
	if err != nil {
		k.tb.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if isServiceChain(n) {
			out = append(out, n)
		}
	}
	return out
}

func hostHasTableIn(t *testing.T, e *kenv, table string) bool {
	t.Helper()
	var ok bool
	_ = inNS(e.node, func() error { ok = hostHasTable(table); return nil })
	return ok
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
