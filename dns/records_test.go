package dns

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	v4 = discoveryv1.AddressTypeIPv4
	v6 = discoveryv1.AddressTypeIPv6
)

// fixture is a small cluster with every kind of Service.
func fixture() []runtime.Object {
	return []runtime.Object{
		newService("kube-system", "kube-dns", []string{"10.43.0.10"}, withPort("dns", corev1.ProtocolUDP, 53), withPort("dns-tcp", corev1.ProtocolTCP, 53)),
		newService("default", "web", []string{"10.43.0.20"}, withPort("http", corev1.ProtocolTCP, 80), withPort("dns", corev1.ProtocolUDP, 53)),
		slice("default", "web", "web-1", v4, "http", 8080, ep{addr: "10.42.0.9", ready: true}),
		newService("default", "plain", []string{"10.43.0.21"}, withPort("", corev1.ProtocolTCP, 8080)),
		newService("default", "dual", []string{"10.43.0.30", "fd00:43::30"}, withPort("http", corev1.ProtocolTCP, 80)),
		headless("default", "db", withPort("pg", corev1.ProtocolTCP, 5432)),
		slice("default", "db", "db-1", v4, "pg", 5432,
			ep{addr: "10.42.0.5", hostname: "db-0", ready: true},
			ep{addr: "10.42.0.6", ready: true},
			ep{addr: "10.42.0.7", hostname: "db-2", ready: false}),
		slice("default", "db", "db-2", v6, "pg", 5432, ep{addr: "fd00:42::5", ready: true}),
		headless("default", "db2", publishNotReady),
		slice("default", "db2", "db2-1", v4, "", 0, ep{addr: "10.42.0.8", ready: false}),
		headless("default", "empty"),
		externalName("default", "ext", "example.com"),
		externalName("default", "extin", "web.default.svc.cluster.local"),
		externalName("default", "extip", "192.0.2.9"),
	}
}

func TestRecords(t *testing.T) {
	up := newFakeUpstream(t, map[string]upstreamAnswer{
		"example.com.": reply(t, "example.com. 60 IN A 192.0.2.1"),
	})
	h := start(t, fixture(), func(c *Config) {
		c.Upstreams = []string{up.addr}
		c.CacheSize = -1 // the upstream's TTLs stay as they are
	})
	h.t = t

	const zone = "cluster.local."
	soa := true
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		extra  []string
		soa    bool // an SOA in the authority section
	}{
		{name: "cluster ip", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "cluster ip, other family is nodata", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeAAAA, soa: soa},
		{name: "case-insensitive, echoes the question", qname: "WEB.Default.SVC.Cluster.Local.", qtype: mdns.TypeA,
			answer: []string{"WEB.Default.SVC.Cluster.Local. 5 IN A 10.43.0.20"}},
		{name: "dual stack A", qname: "dual.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"dual.default.svc.cluster.local. 5 IN A 10.43.0.30"}},
		{name: "dual stack AAAA", qname: "dual.default.svc.cluster.local.", qtype: mdns.TypeAAAA,
			answer: []string{"dual.default.svc.cluster.local. 5 IN AAAA fd00:43::30"}},
		{name: "other type on a service is nodata", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeTXT, soa: soa},
		{name: "headless: ready endpoints", qname: "db.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"db.default.svc.cluster.local. 5 IN A 10.42.0.5", "db.default.svc.cluster.local. 5 IN A 10.42.0.6"}},
		{name: "headless AAAA", qname: "db.default.svc.cluster.local.", qtype: mdns.TypeAAAA,
			answer: []string{"db.default.svc.cluster.local. 5 IN AAAA fd00:42::5"}},
		{name: "headless publishNotReadyAddresses", qname: "db2.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"db2.default.svc.cluster.local. 5 IN A 10.42.0.8"}},
		{name: "headless without endpoints", qname: "empty.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "endpoint hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"db-0.db.default.svc.cluster.local. 5 IN A 10.42.0.5"}},
		{name: "endpoint dashed address", qname: "10-42-0-6.db.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"10-42-0-6.db.default.svc.cluster.local. 5 IN A 10.42.0.6"}},
		{name: "endpoint dashed ipv6", qname: "fd00-42--5.db.default.svc.cluster.local.", qtype: mdns.TypeAAAA,
			answer: []string{"fd00-42--5.db.default.svc.cluster.local. 5 IN AAAA fd00:42::5"}},
		{name: "endpoint with a hostname has no dashed name", qname: "10-42-0-5.db.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "not ready endpoint", qname: "db-2.db.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "endpoint of a cluster ip service (as CoreDNS)", qname: "10-42-0-9.web.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"10-42-0-9.web.default.svc.cluster.local. 5 IN A 10.42.0.9"}},
		{name: "endpoint name, other family", qname: "db-0.db.default.svc.cluster.local.", qtype: mdns.TypeAAAA, soa: soa},
		{name: "srv of a named port", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "srv, case-insensitive", qname: "_HTTP._TCP.web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_HTTP._TCP.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "srv, protocol must match", qname: "_http._udp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV, rcode: mdns.RcodeNameError, soa: soa},
		{name: "srv udp port", qname: "_dns._udp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "srv on the service lists all ports", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{
				"web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 50 53 web.default.svc.cluster.local.",
			},
			extra: []string{"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "srv of an unnamed port on the service", qname: "plain.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"plain.default.svc.cluster.local. 5 IN SRV 0 100 8080 plain.default.svc.cluster.local."},
			extra:  []string{"plain.default.svc.cluster.local. 5 IN A 10.43.0.21"}},
		{name: "srv dual stack: one record, both addresses", qname: "_http._tcp.dual.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"_http._tcp.dual.default.svc.cluster.local. 5 IN SRV 0 100 80 dual.default.svc.cluster.local."},
			extra:  []string{"dual.default.svc.cluster.local. 5 IN A 10.43.0.30", "dual.default.svc.cluster.local. 5 IN AAAA fd00:43::30"}},
		{name: "srv headless: one per endpoint", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-42-0-6.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 fd00-42--5.db.default.svc.cluster.local.",
			},
			extra: []string{
				"db-0.db.default.svc.cluster.local. 5 IN A 10.42.0.5",
				"10-42-0-6.db.default.svc.cluster.local. 5 IN A 10.42.0.6",
				"fd00-42--5.db.default.svc.cluster.local. 5 IN AAAA fd00:42::5",
			}},
		{name: "srv headless without ports is nodata", qname: "db2.default.svc.cluster.local.", qtype: mdns.TypeSRV, soa: soa},
		{name: "srv of an endpoint", qname: "db-0.db.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			answer: []string{"db-0.db.default.svc.cluster.local. 5 IN SRV 0 100 5432 db-0.db.default.svc.cluster.local."},
			extra:  []string{"db-0.db.default.svc.cluster.local. 5 IN A 10.42.0.5"}},
		{name: "external name: cname", qname: "ext.default.svc.cluster.local.", qtype: mdns.TypeCNAME,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
		{name: "external name: A follows the cname upstream", qname: "ext.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com.", "example.com. 60 IN A 192.0.2.1"}},
		{name: "external name inside the domain", qname: "extin.default.svc.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"extin.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
		{name: "external name: no ports", qname: "_http._tcp.ext.default.svc.cluster.local.", qtype: mdns.TypeSRV, rcode: mdns.RcodeNameError, soa: soa},
		{name: "external name that is an address", qname: "extip.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "pod ipv4", qname: "10-42-0-99.default.pod.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"10-42-0-99.default.pod.cluster.local. 5 IN A 10.42.0.99"}},
		{name: "pod ipv4, AAAA is nodata", qname: "10-42-0-99.default.pod.cluster.local.", qtype: mdns.TypeAAAA, soa: soa},
		{name: "pod ipv6", qname: "fd00-42--1.any.pod.cluster.local.", qtype: mdns.TypeAAAA,
			answer: []string{"fd00-42--1.any.pod.cluster.local. 5 IN AAAA fd00:42::1"}},
		{name: "pod name that is no address", qname: "web-1.default.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "pod name too long", qname: "x.10-42-0-99.default.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "missing service", qname: "nothing.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "missing namespace's service", qname: "web.nowhere.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "name too long", qname: "a.b.c.web.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "unknown name in the domain", qname: "foo.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: soa},
		{name: "namespace is an empty non-terminal", qname: "default.svc.cluster.local.", qtype: mdns.TypeA, soa: soa},
		{name: "svc is an empty non-terminal", qname: "svc.cluster.local.", qtype: mdns.TypeA, soa: soa},
		{name: "pod namespace is an empty non-terminal", qname: "default.pod.cluster.local.", qtype: mdns.TypeA, soa: soa},
		{name: "apex A is nodata", qname: "cluster.local.", qtype: mdns.TypeA, soa: soa},
		{name: "apex SOA", qname: "Cluster.Local.", qtype: mdns.TypeSOA,
			answer: []string{"Cluster.Local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5"}},
		{name: "apex NS", qname: zone, qtype: mdns.TypeNS,
			answer: []string{"cluster.local. 5 IN NS ns.dns.cluster.local."},
			extra:  []string{"ns.dns.cluster.local. 5 IN A 10.43.0.10"}},
		{name: "nameserver address", qname: "ns.dns.cluster.local.", qtype: mdns.TypeA,
			answer: []string{"ns.dns.cluster.local. 5 IN A 10.43.0.10"}},
		{name: "schema version", qname: "dns-version.cluster.local.", qtype: mdns.TypeTXT,
			answer: []string{`dns-version.cluster.local. 28800 IN TXT "1.1.0"`}},
		{name: "ptr of a cluster ip", qname: "20.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR,
			answer: []string{"20.0.43.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."}},
		{name: "ptr of a headless endpoint", qname: "5.0.42.10.in-addr.arpa.", qtype: mdns.TypePTR,
			answer: []string{"5.0.42.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local."}},
		{name: "ptr of an endpoint without hostname", qname: "6.0.42.10.in-addr.arpa.", qtype: mdns.TypePTR,
			answer: []string{"6.0.42.10.in-addr.arpa. 5 IN PTR 10-42-0-6.db.default.svc.cluster.local."}},
		{name: "ptr of an ipv6 cluster ip", qname: mustReverse(t, "fd00:43::30"), qtype: mdns.TypePTR,
			answer: []string{mustReverse(t, "fd00:43::30") + " 5 IN PTR dual.default.svc.cluster.local."}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				h.t = t
				r := h.query(tt.qname, tt.qtype, network)
				if r.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s\n%s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode], r)
				}
				if !r.Authoritative {
					t.Errorf("not authoritative")
				}
				if r.Question[0].Name != tt.qname {
					t.Errorf("question %q, want %q", r.Question[0].Name, tt.qname)
				}
				want := tt.answer
				if tt.qtype == mdns.TypeSOA && len(r.Answer) == 1 {
					if s, ok := r.Answer[0].(*mdns.SOA); ok {
						want = slices.Clone(want)
						want[0] = replaceSerial(want[0], s.Serial)
					}
				}
				if got, want := rrStrings(r.Answer), norm(t, want...); !slices.Equal(got, want) {
					t.Errorf("answer\n got %q\nwant %q", got, want)
				}
				if got, want := rrStrings(r.Extra), norm(t, tt.extra...); !slices.Equal(got, want) {
					t.Errorf("extra\n got %q\nwant %q", got, want)
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA
				if hasSOA != tt.soa {
					t.Errorf("authority %v, want an SOA: %v", r.Ns, tt.soa)
				}
				if hasSOA {
					s := r.Ns[0].(*mdns.SOA)
					if s.Minttl != 5 || s.Ns != "ns.dns.cluster.local." || s.Hdr.Name != zone {
						t.Errorf("soa %v", s)
					}
				}
			})
		}
	}
}

func replaceSerial(s string, serial uint32) string {
	return strings.Replace(s, "SERIAL", strconv.FormatUint(uint64(serial), 10), 1)
}

func mustReverse(t *testing.T, ip string) string {
	t.Helper()
	r, err := mdns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
