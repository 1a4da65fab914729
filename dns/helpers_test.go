package dns

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// harness is a running server over a fake clientset.
type harness struct {
	t      *testing.T
	client *fake.Clientset
	srv    *Server
	addr   string // UDP and TCP
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a server on 127.0.0.1 (UDP and TCP, one port) over a fake
// clientset holding objs. mod may change the Config; Upstreams default
// to a closed local port so no test reaches beyond the machine.
func start(t testing.TB, objs []runtime.Object, mod func(*Config)) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	pc, l, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Informers:      factory,
		PacketConns:    []net.PacketConn{pc},
		Listeners:      []net.Listener{l},
		Upstreams:      []string{deadAddr(t)},
		ForwardTimeout: 500 * time.Millisecond,
		Logger:         quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		factory.Shutdown()
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	h := &harness{client: client, srv: srv, addr: pc.LocalAddr().String()}
	if tt, ok := t.(*testing.T); ok {
		h.t = tt
	}
	return h
}

// deadAddr is a local UDP/TCP address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// query asks the server over UDP (no EDNS0) or TCP.
func (h *harness) query(name string, qtype uint16, network string) *mdns.Msg {
	h.t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return h.exchange(m, network)
}

func (h *harness) exchange(m *mdns.Msg, network string) *mdns.Msg {
	h.t.Helper()
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, h.addr)
	if err != nil {
		h.t.Fatalf("%s %s over %s: %v", m.Question[0].Name, mdns.TypeToString[m.Question[0].Qtype], network, err)
	}
	return r
}

// rrStrings renders records for comparison, sorted.
func rrStrings(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// norm parses and re-renders records written by hand, sorted.
func norm(t testing.TB, lines ...string) []string {
	t.Helper()
	var rrs []mdns.RR
	for _, l := range lines {
		rr, err := mdns.NewRR(l)
		if err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		rrs = append(rrs, rr)
	}
	return rrStrings(rrs)
}

// Objects.

type svcOpt func(*corev1.Service)

func newService(ns, name string, clusterIPs []string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: clusterIPs},
	}
	if len(clusterIPs) > 0 {
		s.Spec.ClusterIP = clusterIPs[0]
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func headless(ns, name string, opts ...svcOpt) *corev1.Service {
	return newService(ns, name, []string{corev1.ClusterIPNone}, opts...)
}

func externalName(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

func withPort(name string, proto corev1.Protocol, p int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: name, Protocol: proto, Port: p})
	}
}

func publishNotReady(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }

// ep is an endpoint: address, hostname ("" none), ready.
type ep struct {
	addr     string
	hostname string
	ready    bool
}

// slice is an EndpointSlice of a Service with one port (name "" none).
func slice(ns, svc, name string, family discoveryv1.AddressType, portName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
	}
	if port != 0 {
		tcp := corev1.ProtocolTCP
		s.Ports = []discoveryv1.EndpointPort{{Name: &portName, Protocol: &tcp, Port: &port}}
	}
	for _, e := range eps {
		ready := e.ready
		x := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
		if e.hostname != "" {
			hn := e.hostname
			x.Hostname = &hn
		}
		s.Endpoints = append(s.Endpoints, x)
	}
	return s
}

// within polls cond until it holds or the deadline passes, and returns
// how long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		if cond() {
			return time.Since(begin)
		}
		if time.Since(begin) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeUpstream is a nameserver on 127.0.0.1 (UDP and TCP, one port)
// answering from a table of handlers by lower-case name.
type fakeUpstream struct {
	addr string

	mu      sync.Mutex
	queries map[string]int // "udp name" / "tcp name" → count
}

type upstreamAnswer func(req *mdns.Msg, tcp bool) *mdns.Msg

func newFakeUpstream(t testing.TB, answers map[string]upstreamAnswer) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{queries: map[string]int{}}
	pc, l, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = pc.LocalAddr().String()
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		name := strings.ToLower(req.Question[0].Name)
		network := "udp"
		if tcp {
			network = "tcp"
		}
		f.mu.Lock()
		f.queries[network+" "+name]++
		f.mu.Unlock()
		var resp *mdns.Msg
		if a, ok := answers[name]; ok {
			resp = a(req, tcp)
		}
		if resp == nil {
			resp = new(mdns.Msg)
			resp.SetRcode(req, mdns.RcodeNameError)
		}
		w.WriteMsg(resp)
	})
	var wg sync.WaitGroup
	servers := []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}}
	for _, s := range servers {
		wg.Add(1)
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { defer wg.Done(); s.ActivateAndServe() }()
		<-started
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
		wg.Wait()
	})
	return f
}

func (f *fakeUpstream) count(network, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[network+" "+name]
}

// reply makes an upstream answer of records.
func reply(t testing.TB, lines ...string) upstreamAnswer {
	t.Helper()
	var rrs []mdns.RR
	for _, l := range lines {
		rr, err := mdns.NewRR(l)
		if err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		rrs = append(rrs, rr)
	}
	return func(req *mdns.Msg, _ bool) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		for _, rr := range rrs {
			m.Answer = append(m.Answer, mdns.Copy(rr))
		}
		return m
	}
}

// writeFile writes a temporary file and returns its path.
func writeFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
