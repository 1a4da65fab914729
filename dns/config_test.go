package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestValidate(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	ok := func() Config {
		return Config{Informers: factory, Listen: []string{"10.42.0.1:53"}, Upstreams: []string{"192.0.2.53:53"}}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		err  string // "" valid
	}{
		{name: "valid", mod: func(*Config) {}},
		{name: "no informers", mod: func(c *Config) { c.Informers = nil }, err: "informers"},
		{name: "nowhere to listen", mod: func(c *Config) { c.Listen = nil }, err: "listen"},
		{name: "listen without port", mod: func(c *Config) { c.Listen = []string{"198.51.100.1"} }, err: "listen"},
		{name: "bad domain", mod: func(c *Config) { c.Domain = "Not_A_Domain" }, err: "domain"},
		{name: "domain with a dot and capitals is fine", mod: func(c *Config) { c.Domain = "Cluster.Example." }},
		{name: "upstream without port", mod: func(c *Config) { c.Upstreams = []string{"192.0.2.53"} }, err: "upstream"},
		{name: "upstream name", mod: func(c *Config) { c.Upstreams = []string{"dns.example:53"} }, err: "upstream"},
		{name: "exclude", mod: func(c *Config) { c.Exclude = []string{"10.43.0.10", "[fd00::10]:53"} }},
		{name: "bad exclude", mod: func(c *Config) { c.Exclude = []string{"kube-dns"} }, err: "exclude"},
		{name: "ttl too small", mod: func(c *Config) { c.TTL = time.Millisecond }, err: "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			c.Defaults()
			err := c.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want one about %q", err, tt.err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Domain: "Cluster.Example."}
	c.Defaults()
	if c.Domain != "cluster.example" || c.TTL != 5*time.Second || c.ResolvConf != "/etc/resolv.conf" || c.Logger == nil || c.CacheSize != DefaultCacheSize {
		t.Errorf("defaults %+v", c)
	}
}

// TestUpstreams checks the default upstreams come from resolv.conf, less
// the server's own addresses.
func TestUpstreams(t *testing.T) {
	resolv := writeFile(t, "# generated\nsearch example.org\nnameserver 198.51.100.1\nnameserver 192.0.2.53\nnameserver 127.0.0.1 # local\nnameserver 2001:db8::53\nnameserver 10.43.0.10\noptions ndots:2\n")
	tests := []struct {
		name      string
		listen    []string
		exclude   []string
		upstreams []string
		want      []string
	}{
		{name: "all of resolv.conf", listen: []string{"198.51.100.1:5353"},
			want: []string{"198.51.100.1:53", "192.0.2.53:53", "127.0.0.1:53", "[2001:db8::53]:53", "10.43.0.10:53"}},
		{name: "own address left out", listen: []string{"198.51.100.1:53"},
			want: []string{"192.0.2.53:53", "127.0.0.1:53", "[2001:db8::53]:53", "10.43.0.10:53"}},
		{name: "wildcard listen: every local address left out", listen: []string{"0.0.0.0:53"},
			want: []string{"198.51.100.1:53", "192.0.2.53:53", "[2001:db8::53]:53", "10.43.0.10:53"}},
		{name: "the DNS service left out", listen: []string{"198.51.100.1:53"}, exclude: []string{"10.43.0.10"},
			want: []string{"192.0.2.53:53", "127.0.0.1:53", "[2001:db8::53]:53"}},
		{name: "explicit upstreams", listen: []string{"198.51.100.1:53"}, upstreams: []string{"198.51.100.1:53", "192.0.2.1:5300"},
			want: []string{"192.0.2.1:5300"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{
				Informers:  informers.NewSharedInformerFactory(fake.NewClientset(), 0),
				Listen:     tt.listen,
				Exclude:    tt.exclude,
				Upstreams:  tt.upstreams,
				ResolvConf: resolv,
				Logger:     quietLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Upstreams(); !slices.Equal(got, tt.want) {
				t.Errorf("upstreams %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := New(Config{Informers: informers.NewSharedInformerFactory(fake.NewClientset(), 0), Listen: []string{"127.0.0.1:0"}, ResolvConf: "/nonexistent/resolv.conf"}); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}

// TestListen runs the server on Listen addresses: UDP and TCP share the
// port, both answer, and Run ends when its context does.
func TestListen(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(newService("default", "web", []string{"10.43.0.20"}, withPort("http", "TCP", 80))), 0)
	defer factory.Shutdown()
	s, err := New(Config{Informers: factory, Listen: []string{"127.0.0.1:0"}, Upstreams: []string{deadAddr(t)}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Nothing is answered before the caches sync: the factory is not
	// started yet.
	select {
	case <-s.Ready():
		t.Fatal("ready before the caches synced")
	case <-time.After(100 * time.Millisecond):
	}
	factory.Start(ctx.Done())
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	addrs := s.Addrs()
	if len(addrs) != 2 || addrs[0].Network() != "udp" || addrs[1].Network() != "tcp" {
		t.Fatalf("addrs %v", addrs)
	}
	udp, _ := netip.ParseAddrPort(addrs[0].String())
	tcp, _ := netip.ParseAddrPort(addrs[1].String())
	if udp != tcp || udp.Port() == 0 {
		t.Fatalf("udp %s tcp %s: want one port", udp, tcp)
	}
	for _, network := range []string{"udp", "tcp"} {
		m := new(mdns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		r, _, err := (&mdns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(m, udp.String())
		if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: %v %v", network, r, err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not end")
	}
	// The port is free again.
	pc, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Fatalf("port still taken: %v", err)
	}
	pc.Close()

	// A taken address is an error from Run.
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s2, err := New(Config{Informers: informers.NewSharedInformerFactory(fake.NewClientset(), 0), Listen: []string{busy.LocalAddr().String()}, Upstreams: []string{deadAddr(t)}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("run on a taken address: %v", err)
	}
}

func TestNames(t *testing.T) {
	t.Run("reverse", func(t *testing.T) {
		tests := []struct {
			name string
			want string // "" not an address
		}{
			{"5.0.42.10.in-addr.arpa.", "10.42.0.5"},
			{"0.0.43.10.in-addr.arpa.", "10.43.0.0"},
			{"05.0.42.10.in-addr.arpa.", ""},
			{"256.0.42.10.in-addr.arpa.", ""},
			{"0.42.10.in-addr.arpa.", ""},
			{"x.0.42.10.in-addr.arpa.", ""},
			{mustReverse(t, "fd00:43::30"), "fd00:43::30"},
			{mustReverse(t, "2001:db8::abcd:1"), "2001:db8::abcd:1"},
			{strings.TrimPrefix(mustReverse(t, "fd00:43::30"), "0."), ""},
			{"g" + strings.TrimPrefix(mustReverse(t, "fd00:43::30"), "0"), ""},
			{"example.com.", ""},
		}
		for _, tt := range tests {
			got, ok := reverseAddr(tt.name)
			if (tt.want == "") == ok || (ok && got.String() != tt.want) {
				t.Errorf("%s: %v %v, want %q", tt.name, got, ok, tt.want)
			}
		}
	})
	t.Run("dashed", func(t *testing.T) {
		for in, want := range map[string]string{"10.42.0.5": "10-42-0-5", "fd00::5": "fd00--5", "2001:db8:1::a:b": "2001-db8-1--a-b"} {
			if got := dashed(netip.MustParseAddr(in)); got != want {
				t.Errorf("%s: %s, want %s", in, got, want)
			}
		}
	})
	t.Run("lower", func(t *testing.T) {
		for in, want := range map[string]string{"Web.Default.": "web.default.", "web.": "web.", `\200A.`: `\200a.`} {
			if got := asciiLower(in); got != want {
				t.Errorf("%s: %s, want %s", in, got, want)
			}
		}
	})
}
