package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

const testNode = "node1"

// fakeConntrack records the filters it is asked to apply.
type fakeConntrack struct {
	mu      sync.Mutex
	calls   int
	flows   []*netlink.ConntrackFlow
	deleted []*netlink.ConntrackFlow
}

func (f *fakeConntrack) ConntrackDeleteFilters(_ netlink.ConntrackTableType, _ netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var keep []*netlink.ConntrackFlow
	n := uint(0)
	for _, fl := range f.flows {
		matched := false
		for _, flt := range filters {
			matched = matched || flt.MatchConntrackFlow(fl)
		}
		if matched {
			f.deleted = append(f.deleted, fl)
			n++
		} else {
			keep = append(keep, fl)
		}
	}
	f.flows = keep
	return n, nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// unit is a Proxier over knftables' fake, driven by calling its handlers
// and sync directly.
type unit struct {
	t    *testing.T
	p    *Proxier
	nft  *knftables.Fake
	ct   *fakeConntrack
	last SyncResult
}

func newUnit(t *testing.T, mods ...func(*Config)) *unit {
	t.Helper()
	u := &unit{t: t, nft: knftables.NewFake(knftables.IPv4Family, "berth"), ct: &fakeConntrack{}}
	cfg := Config{
		NodeName:    testNode,
		NodeIPs:     []netip.Addr{netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("127.0.0.1")},
		ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"),
		Informers:   informers.NewSharedInformerFactory(fake.NewClientset(), 0),
		NFT:         u.nft,
		Conntrack:   u.ct,
		Logger:      discard(),
	}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.staleDelay = 0
	u.p = p
	return u
}

func (u *unit) add(objs ...any) {
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			u.p.onService(o)
		case *discoveryv1.EndpointSlice:
			u.p.onSlice(nil, o)
		default:
			u.t.Fatalf("unexpected %T", o)
		}
	}
}

func (u *unit) sync() SyncResult {
	u.t.Helper()
	u.last = u.p.sync(context.Background())
	if u.last.Err != nil {
		u.t.Fatalf("sync: %v", u.last.Err)
	}
	return u.last
}

// dump is the fake's table, one object per line.
func (u *unit) dump() []string {
	return strings.Split(strings.TrimSpace(u.nft.Dump()), "\n")
}

var nameTemplate = regexp.MustCompile(`\{(service|local|external|firewall|endpoint|affinity)-([^}]*)\}`)

// expand turns the short form used in tests into Dump lines: "rule C R"
// becomes "add rule ip berth C R", and "{service-ns/web/tcp/http}" the
// chain's hashed name.
func expand(line string) string {
	kind, rest, _ := strings.Cut(expandNames(line), " ")
	return "add " + kind + " ip berth " + rest
}

// expandNames replaces the "{service-ns/web/tcp/http}" templates.
func expandNames(s string) string {
	return nameTemplate.ReplaceAllStringFunc(s, func(m string) string {
		sub := nameTemplate.FindStringSubmatch(m)
		return sub[1] + "-" + hashName(sub[2])
	})
}

func (u *unit) assertHas(lines ...string) {
	u.t.Helper()
	have := map[string]bool{}
	for _, l := range u.dump() {
		have[l] = true
	}
	for _, l := range lines {
		if !have[expand(l)] {
			u.t.Errorf("missing %q\n%s", expand(l), u.service())
		}
	}
}

// assertLacks checks that no line of the dump contains any of subs.
func (u *unit) assertLacks(subs ...string) {
	u.t.Helper()
	for _, l := range u.dump() {
		for _, w := range subs {
			if strings.Contains(l, expandNames(w)) {
				u.t.Errorf("unexpected %q", l)
			}
		}
	}
}

// service is the per-service part of the dump, for failure messages.
func (u *unit) service() string {
	var out []string
	for _, l := range u.dump() {
		if strings.Contains(l, "/") || strings.Contains(l, "element") {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// chains are the per-service chains in the fake table.
func (u *unit) chains() []string {
	var out []string
	names, _ := u.nft.List(context.Background(), "chains")
	for _, n := range names {
		if isServiceChain(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

type svcMod func(*corev1.Service)

func service(name, clusterIP string, mods ...svcMod) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  clusterIP,
			ClusterIPs: []string{clusterIP},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func withPorts(ports ...corev1.ServicePort) svcMod {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}

func nodePort(np int32) svcMod {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		s.Spec.Ports[0].NodePort = np
	}
}

func etpLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func itpLocal(s *corev1.Service) {
	p := corev1.ServiceInternalTrafficPolicyLocal
	s.Spec.InternalTrafficPolicy = &p
}

func affinity(seconds int32) svcMod {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &seconds}}
	}
}

func loadBalancer(np int32, ips ...string) svcMod {
	return func(s *corev1.Service) {
		nodePort(np)(s)
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

type epMod func(*discoveryv1.Endpoint)

func ep(ip, node string, mods ...epMod) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{
		Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false),
	}}
	if node != "" {
		e.NodeName = ptr(node)
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func notReady(e *discoveryv1.Endpoint) {
	e.Conditions.Ready = ptr(false)
	e.Conditions.Serving = ptr(false)
}

// terminating marks the endpoint terminating, still serving or not.
func terminating(serving bool) epMod {
	return func(e *discoveryv1.Endpoint) {
		e.Conditions.Ready = ptr(false)
		e.Conditions.Serving = ptr(serving)
		e.Conditions.Terminating = ptr(true)
	}
}

func zoneHints(zones ...string) epMod {
	return func(e *discoveryv1.Endpoint) {
		e.Hints = &discoveryv1.EndpointHints{}
		for _, z := range zones {
			e.Hints.ForZones = append(e.Hints.ForZones, discoveryv1.ForZone{Name: z})
		}
	}
}

func epPort(name string, port int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(port), Protocol: ptr(proto)}
}

func slice(svc, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func httpPorts() []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{epPort("http", 8080, corev1.ProtocolTCP)}
}

func ptr[T any](v T) *T { return &v }
