package dns

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// bigAnswer is an upstream answer too large for UDP: truncated (TC, no
// records) over UDP, whole over TCP.
func bigAnswer(req *mdns.Msg, tcp bool) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	if !tcp {
		m.Truncated = true
		return m
	}
	for i := range 60 {
		rr, _ := mdns.NewRR(fmt.Sprintf("%s 60 IN A 192.0.2.%d", req.Question[0].Name, i+1))
		m.Answer = append(m.Answer, rr)
	}
	return m
}

func TestForward(t *testing.T) {
	slowRelease := make(chan struct{})
	up := newFakeUpstream(t, map[string]upstreamAnswer{
		"example.com.": reply(t, "example.com. 60 IN A 192.0.2.1"),
		"big.example.": bigAnswer,
		"slow.example.": func(req *mdns.Msg, tcp bool) *mdns.Msg {
			select {
			case <-slowRelease:
			case <-time.After(3 * time.Second):
			}
			return reply(t, "slow.example. 60 IN A 192.0.2.3")(req, tcp)
		},
		"refused.example.": func(req *mdns.Msg, _ bool) *mdns.Msg {
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeRefused)
			return m
		},
	})
	objs := []runtime.Object{newService("default", "web", []string{"10.43.0.20"}, withPort("http", corev1.ProtocolTCP, 80))}
	h := start(t, objs, func(c *Config) {
		c.Upstreams = []string{up.addr}
		c.CacheSize = -1
		c.ForwardTimeout = 5 * time.Second
	})

	t.Run("answer", func(t *testing.T) {
		h.t = t
		for _, network := range []string{"udp", "tcp"} {
			m := new(mdns.Msg)
			m.SetQuestion("Example.COM.", mdns.TypeA)
			m.Id = 4242
			r := h.exchange(m, network)
			if r.Rcode != mdns.RcodeSuccess || r.Authoritative || !r.RecursionAvailable {
				t.Fatalf("%s: %v", network, r)
			}
			if r.Id != 4242 || r.Question[0].Name != "Example.COM." {
				t.Errorf("%s: id %d question %v", network, r.Id, r.Question)
			}
			if got, want := rrStrings(r.Answer), norm(t, "example.com. 60 IN A 192.0.2.1"); !slices.Equal(got, want) {
				t.Errorf("%s: answer %v, want %v", network, got, want)
			}
		}
		if up.count("tcp", "example.com.") != 1 || up.count("udp", "example.com.") != 1 {
			t.Errorf("upstream saw udp %d tcp %d, want one each (same protocol as the client)", up.count("udp", "example.com."), up.count("tcp", "example.com."))
		}
	})

	t.Run("nxdomain passes through", func(t *testing.T) {
		h.t = t
		if r := h.query("nothing.example.", mdns.TypeA, "udp"); r.Rcode != mdns.RcodeNameError {
			t.Fatalf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
	})

	t.Run("refused by the only upstream is passed on", func(t *testing.T) {
		h.t = t
		if r := h.query("refused.example.", mdns.TypeA, "udp"); r.Rcode != mdns.RcodeRefused {
			t.Fatalf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
	})

	t.Run("truncated upstream answer is asked again over tcp", func(t *testing.T) {
		h.t = t
		m := new(mdns.Msg)
		m.SetQuestion("big.example.", mdns.TypeA)
		m.SetEdns0(65000, false)
		r := h.exchange(m, "udp")
		if r.Truncated || len(r.Answer) != 60 {
			t.Fatalf("tc %v, %d answers, want 60", r.Truncated, len(r.Answer))
		}
		if up.count("udp", "big.example.") != 1 || up.count("tcp", "big.example.") != 1 {
			t.Errorf("upstream saw udp %d tcp %d", up.count("udp", "big.example."), up.count("tcp", "big.example."))
		}
		// A client without EDNS0 gets what fits in 512 bytes, with TC,
		// and the whole answer over TCP.
		r = h.query("big.example.", mdns.TypeA, "udp")
		if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 60 {
			t.Errorf("plain udp: tc %v, %d answers", r.Truncated, len(r.Answer))
		}
		if r := h.query("big.example.", mdns.TypeA, "tcp"); r.Truncated || len(r.Answer) != 60 {
			t.Errorf("tcp: tc %v, %d answers", r.Truncated, len(r.Answer))
		}
	})

	t.Run("a slow upstream blocks no other query", func(t *testing.T) {
		h.t = t
		var wg sync.WaitGroup
		wg.Add(1)
		var slow *mdns.Msg
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion("slow.example.", mdns.TypeA)
			slow, _, _ = c.Exchange(m, h.addr)
		}()
		within(t, 2*time.Second, "slow query reached the upstream", func() bool { return up.count("udp", "slow.example.") == 1 })
		begin := time.Now()
		for range 20 {
			if r := h.query("web.default.svc.cluster.local.", mdns.TypeA, "udp"); len(r.Answer) != 1 {
				t.Fatalf("cluster answer %v", r)
			}
			if r := h.query("example.com.", mdns.TypeA, "udp"); len(r.Answer) != 1 {
				t.Fatalf("forwarded answer %v", r)
			}
		}
		took := time.Since(begin)
		close(slowRelease)
		wg.Wait()
		if took > time.Second {
			t.Errorf("40 queries took %s while the slow one was pending", took)
		}
		if slow == nil || len(slow.Answer) != 1 {
			t.Errorf("slow answer %v", slow)
		}
	})
}

func TestForwardFailures(t *testing.T) {
	up := newFakeUpstream(t, map[string]upstreamAnswer{
		"example.com.": reply(t, "example.com. 60 IN A 192.0.2.1"),
		"failing.example.": func(req *mdns.Msg, _ bool) *mdns.Msg {
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeServerFailure)
			return m
		},
	})
	up2 := newFakeUpstream(t, map[string]upstreamAnswer{
		"failing.example.": reply(t, "failing.example. 60 IN A 192.0.2.2"),
	})
	// blackhole reads queries and never answers.
	blackhole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blackhole.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := blackhole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()

	tests := []struct {
		name      string
		upstreams []string
		qname     string
		rcode     int
		answers   int
		maxTook   time.Duration
	}{
		{name: "upstream down: servfail", upstreams: []string{deadAddr(t)}, qname: "example.com.", rcode: mdns.RcodeServerFailure, maxTook: time.Second},
		{name: "all upstreams down: servfail", upstreams: []string{deadAddr(t), deadAddr(t)}, qname: "example.com.", rcode: mdns.RcodeServerFailure, maxTook: time.Second},
		{name: "upstream silent: servfail after the timeout", upstreams: []string{blackhole.LocalAddr().String()}, qname: "example.com.", rcode: mdns.RcodeServerFailure, maxTook: 2 * time.Second},
		{name: "first down, next answers", upstreams: []string{deadAddr(t), up.addr}, qname: "example.com.", answers: 1, maxTook: time.Second},
		{name: "first silent, next answers after the timeout", upstreams: []string{blackhole.LocalAddr().String(), up.addr}, qname: "example.com.", answers: 1, maxTook: 2 * time.Second},
		{name: "servfail from the first, next answers", upstreams: []string{up.addr, up2.addr}, qname: "failing.example.", answers: 1, maxTook: time.Second},
		{name: "no upstream at all", upstreams: nil, qname: "example.com.", rcode: mdns.RcodeServerFailure, maxTook: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, nil, func(c *Config) {
				c.Upstreams = tt.upstreams
				if tt.upstreams == nil {
					c.ResolvConf = writeFile(t, "# no nameserver\n")
				}
				c.ForwardTimeout = 300 * time.Millisecond
			})
			h.t = t
			begin := time.Now()
			r := h.query(tt.qname, mdns.TypeA, "udp")
			took := time.Since(begin)
			if r.Rcode != tt.rcode || len(r.Answer) != tt.answers {
				t.Fatalf("rcode %s answers %d, want %s %d", mdns.RcodeToString[r.Rcode], len(r.Answer), mdns.RcodeToString[tt.rcode], tt.answers)
			}
			if took > tt.maxTook {
				t.Errorf("took %s", took)
			}
			// Cluster names still answer.
			if r := h.query("x.default.svc.cluster.local.", mdns.TypeA, "udp"); r.Rcode != mdns.RcodeNameError || !r.Authoritative {
				t.Errorf("cluster name: %v", r)
			}
		})
	}
}

func TestForwardCache(t *testing.T) {
	up := newFakeUpstream(t, map[string]upstreamAnswer{
		"cached.example.": reply(t, "cached.example. 60 IN A 192.0.2.1"),
		"short.example.":  reply(t, "short.example. 0 IN A 192.0.2.2"),
	})
	h := start(t, nil, func(c *Config) { c.Upstreams = []string{up.addr} })
	h.t = t
	for i := range 3 {
		r := h.query("Cached.Example.", mdns.TypeA, "udp")
		if len(r.Answer) != 1 || r.Question[0].Name != "Cached.Example." {
			t.Fatalf("query %d: %v", i, r)
		}
		if ttl := r.Answer[0].Header().Ttl; ttl > 60 || ttl < 58 {
			t.Errorf("ttl %d", ttl)
		}
	}
	if n := up.count("udp", "cached.example."); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
	// TTL 0 is not cached; nor is another type.
	h.query("short.example.", mdns.TypeA, "udp")
	h.query("short.example.", mdns.TypeA, "udp")
	h.query("cached.example.", mdns.TypeAAAA, "udp")
	if n := up.count("udp", "short.example."); n != 2 {
		t.Errorf("ttl 0 answer: upstream asked %d times, want 2", n)
	}
	if n := up.count("udp", "cached.example."); n != 2 {
		t.Errorf("AAAA: upstream asked %d times in all, want 2", n)
	}
}

func TestAnswerCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newAnswerCache(2, 30*time.Second)
	c.now = func() time.Time { return now }
	msg := func(ttl uint32, rcode int) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion("a.example.", mdns.TypeA)
		m.Rcode = rcode
		if rcode == mdns.RcodeSuccess {
			rr, _ := mdns.NewRR(fmt.Sprintf("a.example. %d IN A 192.0.2.1", ttl))
			m.Answer = []mdns.RR{rr}
		} else {
			soa, _ := mdns.NewRR(fmt.Sprintf("example. %d IN SOA ns. host. 1 2 3 4 %d", ttl, ttl))
			m.Ns = []mdns.RR{soa}
		}
		return m
	}
	tests := []struct {
		name    string
		msg     *mdns.Msg
		after   time.Duration
		cached  bool
		wantTTL uint32
	}{
		{name: "fresh", msg: msg(60, mdns.RcodeSuccess), after: 0, cached: true, wantTTL: 60},
		{name: "aged", msg: msg(60, mdns.RcodeSuccess), after: 10 * time.Second, cached: true, wantTTL: 50},
		{name: "capped at max ttl", msg: msg(60, mdns.RcodeSuccess), after: 31 * time.Second, cached: false},
		{name: "expired by its ttl", msg: msg(5, mdns.RcodeSuccess), after: 6 * time.Second, cached: false},
		{name: "negative by soa", msg: msg(10, mdns.RcodeNameError), after: 5 * time.Second, cached: true, wantTTL: 5},
		{name: "servfail not cached", msg: msg(60, mdns.RcodeServerFailure), after: 0, cached: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Unix(1000, 0)
			c.put(tt.name, tt.msg)
			now = now.Add(tt.after)
			got := c.get(tt.name)
			if (got != nil) != tt.cached {
				t.Fatalf("cached %v, want %v", got != nil, tt.cached)
			}
			if got == nil {
				return
			}
			rrs := got.Answer
			if len(rrs) == 0 {
				rrs = got.Ns
			}
			if ttl := rrs[0].Header().Ttl; ttl != tt.wantTTL {
				t.Errorf("ttl %d, want %d", ttl, tt.wantTTL)
			}
		})
	}
	// The size bound holds.
	for i := range 10 {
		c.put(fmt.Sprint(i), msg(60, mdns.RcodeSuccess))
	}
	if n := len(c.entries); n > 2 {
		t.Errorf("%d entries, want at most 2", n)
	}
}
