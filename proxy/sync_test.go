package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/knftables"
)

func TestUnchangedSyncSendsNoTransaction(t *testing.T) {
	u := newUnit(t)
	u.add(service("web", "10.96.0.10", nodePort(30080)), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()
	last := u.nft.LastTransaction

	tests := []struct {
		name   string
		change func()
	}{
		{"nothing", func() {}},
		{"periodic wake-up", func() { u.p.signal() }},
		{"service relabelled", func() {
			u.add(service("web", "10.96.0.10", nodePort(30080), func(s *corev1.Service) { s.Labels = map[string]string{"a": "b"} }))
		}},
		{"slice resent with a new resource version", func() {
			es := slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode))
			es.ResourceVersion = "99"
			u.add(es)
		}},
		{"unrelated service without rules", func() { u.add(service("other", "None")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := u.p.Stats()
			tc.change()
			res := u.sync()
			if res.Transaction || res.Operations != 0 || len(res.Services) != 0 {
				t.Errorf("sync sent a transaction: %+v", res)
			}
			if u.nft.LastTransaction != last {
				t.Errorf("fake ran a transaction:\n%s", u.nft.LastTransaction)
			}
			after := u.p.Stats()
			if after.Transactions != before.Transactions || after.Syncs != before.Syncs+1 {
				t.Errorf("stats %+v -> %+v", before, after)
			}
		})
	}
}

func TestChangedEndpointRewritesOnlyItsService(t *testing.T) {
	u := newUnit(t)
	for i, name := range []string{"a", "b", "c"} {
		ip := fmt.Sprintf("10.96.0.%d", 10+i)
		u.add(service(name, ip, nodePort(int32(30080+i))),
			slice(name, name+"-1", httpPorts(), ep(fmt.Sprintf("10.42.%d.2", i), testNode)))
	}
	u.sync()

	// b's endpoint moves.
	u.add(slice("b", "b-1", httpPorts(), ep("10.42.1.9", testNode)))
	res := u.sync()
	if !res.Transaction || res.Full {
		t.Fatalf("want a partial transaction: %+v", res)
	}
	if want := []types.NamespacedName{{Namespace: "ns", Name: "b"}}; !slices.Equal(res.Services, want) {
		t.Errorf("services rewritten %v, want %v", res.Services, want)
	}
	tx := u.nft.LastTransaction.String()
	for _, other := range []string{"ns/a/", "ns/c/"} {
		if strings.Contains(tx, other) {
			t.Errorf("transaction touches %s:\n%s", other, tx)
		}
	}
	ep9 := expandNames("{endpoint-ns/b/tcp/http__10.42.1.9/8080}")
	ep2 := expandNames("{endpoint-ns/b/tcp/http__10.42.1.2/8080}")
	svc := expandNames("{service-ns/b/tcp/http}")
	for _, want := range []string{
		"add chain ip berth " + ep9,
		"flush chain ip berth " + svc,
		"add rule ip berth " + svc + " numgen random mod 1 vmap { 0 : goto " + ep9 + " }",
		"flush chain ip berth " + ep2, // stale: flushed now, deleted later
	} {
		if !strings.Contains(tx, want+"\n") {
			t.Errorf("transaction lacks %q:\n%s", want, tx)
		}
	}
	// The service's map elements did not change: none is rewritten.
	if strings.Contains(tx, "element") {
		t.Errorf("transaction rewrites elements:\n%s", tx)
	}
	u.assertHas("rule {endpoint-ns/b/tcp/http__10.42.1.9/8080} meta l4proto tcp dnat to 10.42.1.9:8080")
	if n := len(u.nft.Table.Chains[ep2].Rules); n != 0 {
		t.Errorf("stale chain has %d rules", n)
	}
}

func TestStaleChainsAreDeleted(t *testing.T) {
	u := newUnit(t)
	u.add(service("web", "10.96.0.10", affinity(60)), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode), ep("10.42.0.3", "node2")))
	u.sync()
	ep3 := expandNames(webEP3)
	aff3 := expandNames(webAff3)
	if !slices.Contains(u.chains(), ep3) {
		t.Fatalf("no %s in %v", ep3, u.chains())
	}

	u.add(slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()
	if !slices.Contains(u.chains(), ep3) {
		t.Fatalf("stale chain deleted at once; want it flushed first")
	}
	if _, ok := u.nft.Table.Sets[aff3]; ok {
		t.Errorf("affinity set %s of the gone endpoint kept", aff3)
	}
	// The next sync, with nothing else to do, deletes it.
	res := u.sync()
	if !res.Transaction || slices.Contains(u.chains(), ep3) {
		t.Fatalf("stale chain not deleted by the next sync: %v", u.chains())
	}
	if res := u.sync(); res.Transaction {
		t.Errorf("sync after deletion sent %s", u.nft.LastTransaction)
	}

	// Deleting the Service removes everything it had.
	u.p.onServiceDelete(service("web", "10.96.0.10"))
	u.p.onSliceDelete(slice("web", "web-1", nil))
	u.sync()
	u.sync()
	if c := u.chains(); len(c) != 0 {
		t.Errorf("chains left: %v", c)
	}
	u.assertLacks("ns/web", "10.96.0.10")
	if len(u.p.k.elems) != 0 || len(u.p.k.services) != 0 || len(u.p.k.sets) != 0 {
		t.Errorf("model not empty: %d elems, %d services, %d sets", len(u.p.k.elems), len(u.p.k.services), len(u.p.k.sets))
	}
}

func TestStaleChainReused(t *testing.T) {
	u := newUnit(t)
	u.add(service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode), ep("10.42.0.3", "node2")))
	u.sync()
	u.add(slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync() // 10.42.0.3's chain flushed
	u.add(slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode), ep("10.42.0.3", "node2")))
	u.sync() // and in use again: rewritten, not deleted
	u.sync()
	u.assertHas("rule " + webEP3 + " meta l4proto tcp dnat to 10.42.0.3:8080")
}

func TestAffinityTimeoutChangeRecreatesSets(t *testing.T) {
	u := newUnit(t)
	u.add(service("web", "10.96.0.10", affinity(60)), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()
	u.add(service("web", "10.96.0.10", affinity(120)))
	u.sync()
	tx := u.nft.LastTransaction.String()
	aff := expandNames(webAff2)
	for _, want := range []string{"delete set ip berth " + aff, "flush chain ip berth " + expandNames(webEP2)} {
		if !strings.Contains(tx, want) {
			t.Errorf("transaction lacks %q:\n%s", want, tx)
		}
	}
	u.assertHas("set " + webAff2 + " { type ipv4_addr ; flags dynamic,timeout ; timeout 120s ; }")
}

func TestFirstSyncRebuildsTable(t *testing.T) {
	u := newUnit(t)
	// What a previous run left behind.
	tx := u.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "service-OLD-ns/gone/tcp/http"})
	tx.Add(&knftables.Map{Name: serviceIPsMap, Type: "ipv4_addr . inet_proto . inet_service : verdict"})
	tx.Add(&knftables.Element{Map: serviceIPsMap, Key: []string{"10.96.9.9", "tcp", "80"}, Value: []string{"goto service-OLD-ns/gone/tcp/http"}})
	if err := u.nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	u.add(service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()
	u.assertLacks("ns/gone", "10.96.9.9")
	u.assertHas("element service-ips { 10.96.0.10 . tcp . 80 : goto " + webSvc + " }")
}

// failingNFT fails its next Run.
type failingNFT struct {
	*knftables.Fake
	fail bool
}

func (f *failingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	if f.fail {
		f.fail = false
		return errors.New("boom")
	}
	return f.Fake.Run(ctx, tx)
}

func TestFailedSyncRebuilds(t *testing.T) {
	nft := &failingNFT{Fake: knftables.NewFake(knftables.IPv4Family, "berth")}
	u := newUnit(t, func(c *Config) { c.NFT = nft })
	u.nft = nft.Fake
	u.add(service("web", "10.96.0.10"), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()

	nft.fail = true
	u.add(slice("web", "web-1", httpPorts(), ep("10.42.0.3", testNode)))
	res := u.p.sync(context.Background())
	if res.Err == nil || u.p.Stats().Failures != 1 {
		t.Fatalf("want a failure, got %+v", res)
	}
	res = u.sync()
	if !res.Full {
		t.Errorf("sync after a failure is not full")
	}
	if _, ok := res.Changes[types.NamespacedName{Namespace: "ns", Name: "web"}]; !ok {
		t.Errorf("retry lost the pending change: %v", res.Changes)
	}
	u.assertHas("rule " + webEP3 + " meta l4proto tcp dnat to 10.42.0.3:8080")
	u.assertLacks(webEP2)
}

func TestSharedElementOwners(t *testing.T) {
	// Two Services claim the same external IP and port: the first by
	// name wins, and the element stays while one still wants it.
	u := newUnit(t)
	ext := func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.9"} }
	u.add(service("a", "10.96.0.10", ext), slice("a", "a-1", httpPorts(), ep("10.42.0.2", testNode)),
		service("b", "10.96.0.11", ext), slice("b", "b-1", httpPorts(), ep("10.42.0.3", testNode)))
	u.sync()
	u.assertHas("element service-ips { 198.51.100.9 . tcp . 80 : goto {external-ns/a/tcp/http} }")
	u.p.onServiceDelete(service("a", "10.96.0.10"))
	u.sync()
	u.assertHas("element service-ips { 198.51.100.9 . tcp . 80 : goto {external-ns/b/tcp/http} }")
}

func TestSliceHandlers(t *testing.T) {
	u := newUnit(t)
	u.add(service("a", "10.96.0.10"), service("b", "10.96.0.11"))
	es := slice("a", "moving", httpPorts(), ep("10.42.0.2", testNode))
	u.add(es)
	u.sync()
	u.assertHas("element service-ips { 10.96.0.10 . tcp . 80 : goto {service-ns/a/tcp/http} }")

	moved := slice("b", "moving", httpPorts(), ep("10.42.0.2", testNode))
	u.p.onSlice(es, moved)
	u.sync()
	u.assertHas(
		`element no-endpoint-services { 10.96.0.10 . tcp . 80 comment "ns/a:http" : goto reject-chain }`,
		"element service-ips { 10.96.0.11 . tcp . 80 : goto {service-ns/b/tcp/http} }",
	)

	headless := moved.DeepCopy()
	headless.Labels[labelHeadless] = ""
	u.p.onSlice(moved, headless)
	u.sync()
	u.assertHas(`element no-endpoint-services { 10.96.0.11 . tcp . 80 comment "ns/b:http" : goto reject-chain }`)

	ipv6 := slice("b", "v6", httpPorts(), ep("fd00::2", testNode))
	ipv6.AddressType = discoveryv1.AddressTypeIPv6
	u.add(ipv6)
	u.sync()
	u.assertLacks("fd00::2")
}

func TestUDPConntrackCleanup(t *testing.T) {
	u := newUnit(t)
	udp := withPorts(corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, NodePort: 30053})
	dnsPorts := []discoveryv1.EndpointPort{epPort("dns", 5353, corev1.ProtocolUDP)}
	u.add(service("dns", "10.96.0.10", udp, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }),
		slice("dns", "dns-1", dnsPorts, ep("10.42.0.2", testNode), ep("10.42.0.3", testNode)))
	u.sync()

	flow := func(dst string, dport uint16, replySrc string) *netlink.ConntrackFlow {
		return &netlink.ConntrackFlow{
			Forward: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP("10.42.0.9"), DstIP: net.ParseIP(dst), DstPort: dport},
			Reverse: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP(replySrc)},
		}
	}
	toGone := flow("10.96.0.10", 53, "10.42.0.3")
	toKept := flow("10.96.0.10", 53, "10.42.0.2")
	nodePortToGone := flow("192.168.0.10", 30053, "10.42.0.3")
	otherPort := flow("10.96.0.10", 54, "10.42.0.3")
	unrelated := flow("8.8.8.8", 30053, "8.8.8.8")
	tcp := flow("10.96.0.10", 53, "10.42.0.3")
	tcp.Forward.Protocol = unix.IPPROTO_TCP
	u.ct.flows = []*netlink.ConntrackFlow{toGone, toKept, nodePortToGone, otherPort, unrelated, tcp}

	u.add(slice("dns", "dns-1", dnsPorts, ep("10.42.0.2", testNode), ep("10.42.0.3", testNode, notReady)))
	u.sync()
	if len(u.ct.deleted) != 2 || u.ct.deleted[0] != toGone || u.ct.deleted[1] != nodePortToGone {
		t.Errorf("deleted %v, want the flows to 10.42.0.3", u.ct.deleted)
	}
	calls := u.ct.calls
	// A TCP-only change does not scan conntrack.
	u.add(service("web", "10.96.0.20"), slice("web", "web-1", httpPorts(), ep("10.42.0.2", testNode)))
	u.sync()
	if u.ct.calls != calls {
		t.Errorf("conntrack scanned for a TCP change")
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		u := newUnit(t)
		return u.p.cfg
	}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"valid", func(*Config) {}, true},
		{"no node name", func(c *Config) { c.NodeName = "" }, false},
		{"no IPv4 node IP", func(c *Config) { c.NodeIPs = nil }, false},
		{"IPv6 cluster CIDR", func(c *Config) { c.ClusterCIDR = netip.MustParsePrefix("fd00::/48") }, false},
		{"no cluster CIDR", func(c *Config) { c.ClusterCIDR = netip.Prefix{} }, false},
		{"no informers", func(c *Config) { c.Informers = nil }, false},
		{"negative period", func(c *Config) { c.SyncPeriod = -1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
