package dns

import (
	"fmt"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestProtocol checks message handling: EDNS0, truncation of large
// answers, classes and opcodes.
func TestProtocol(t *testing.T) {
	var eps []ep
	for i := range 100 {
		eps = append(eps, ep{addr: fmt.Sprintf("10.42.3.%d", i+1), ready: true})
	}
	objs := []runtime.Object{
		newService("default", "web", []string{"10.43.0.20"}, withPort("http", corev1.ProtocolTCP, 80)),
		headless("default", "many"),
		slice("default", "many", "many-1", v4, "http", 80, eps...),
	}
	up := newFakeUpstream(t, map[string]upstreamAnswer{
		"edns.example.": func(req *mdns.Msg, tcp bool) *mdns.Msg {
			m := reply(t, "edns.example. 60 IN A 192.0.2.1")(req, tcp)
			m.SetEdns0(4096, false)
			return m
		},
	})
	h := start(t, objs, func(c *Config) { c.Upstreams = []string{up.addr} })

	msg := func(name string, qtype uint16, edns bool) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		if edns {
			m.SetEdns0(4096, true)
		}
		return m
	}
	tests := []struct {
		name    string
		msg     *mdns.Msg
		network string
		rcode   int
		answers int
		tc      bool
		opt     bool // an OPT record in the answer
	}{
		{name: "no edns: no opt", msg: msg("web.default.svc.cluster.local.", mdns.TypeA, false), network: "udp", answers: 1},
		{name: "edns: opt", msg: msg("web.default.svc.cluster.local.", mdns.TypeA, true), network: "udp", answers: 1, opt: true},
		{name: "large answer truncated to 512 bytes", msg: msg("many.default.svc.cluster.local.", mdns.TypeA, false), network: "udp", answers: 29, tc: true},
		{name: "large answer fits the edns size", msg: msg("many.default.svc.cluster.local.", mdns.TypeA, true), network: "udp", answers: 100, opt: true},
		{name: "large answer over tcp", msg: msg("many.default.svc.cluster.local.", mdns.TypeA, false), network: "tcp", answers: 100},
		{name: "forwarded: no opt for a client without edns", msg: msg("edns.example.", mdns.TypeA, false), network: "udp", answers: 1},
		{name: "forwarded: opt for a client with edns", msg: msg("edns.example.", mdns.TypeA, true), network: "udp", answers: 1, opt: true},
		{name: "class chaos in the domain", msg: func() *mdns.Msg {
			m := msg("web.default.svc.cluster.local.", mdns.TypeA, false)
			m.Question[0].Qclass = mdns.ClassCHAOS
			return m
		}(), network: "udp", rcode: mdns.RcodeRefused},
		{name: "notify", msg: func() *mdns.Msg {
			m := msg("web.default.svc.cluster.local.", mdns.TypeSOA, false)
			m.Opcode = mdns.OpcodeNotify
			return m
		}(), network: "udp", rcode: mdns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			r := h.exchange(tt.msg, tt.network)
			if r.Rcode != tt.rcode || len(r.Answer) != tt.answers || r.Truncated != tt.tc || (r.IsEdns0() != nil) != tt.opt {
				t.Fatalf("rcode %s answers %d tc %v opt %v, want %s %d %v %v", mdns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated, r.IsEdns0() != nil,
					mdns.RcodeToString[tt.rcode], tt.answers, tt.tc, tt.opt)
			}
			if opt := r.IsEdns0(); opt != nil && r.Authoritative && (opt.UDPSize() != udpSize || !opt.Do()) {
				t.Errorf("opt %v", opt)
			}
		})
	}
}
