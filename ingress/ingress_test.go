package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var ctx = context.Background()

func TestProxyRouting(t *testing.T) {
	web, api, metrics, def := newPod(t, "web-1"), newPod(t, "api-1"), newPod(t, "metrics-1"), newPod(t, "default-1")
	objs := []runtime.Object{
		newService("default", "web"), newService("default", "api"), newService("default", "empty"), newService("default", "def"),
		newService("default", "named",
			corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}),
		sliceFor(t, "default", "web-a", "web", "", web.addr(), true),
		sliceFor(t, "default", "api-a", "api", "", api.addr(), true),
		sliceFor(t, "default", "def-a", "def", "", def.addr(), true),
		sliceFor(t, "default", "named-m", "named", "metrics", metrics.addr(), true),
		// The "http" port of "named" goes elsewhere: a request routed by
		// port name "metrics" must not land here.
		sliceFor(t, "default", "named-h", "named", "http", web.addr(), true),
		newIngress("default", "main", 0, className("berth"),
			withRule("web.example.com",
				path("Prefix", "/", "web"),
				path("Exact", "/api", "api"),
				path("Prefix", "/empty", "empty"),
				namedPath("Prefix", "/metrics", "named", "metrics")),
			withRule("*.apps.example.com", path("Prefix", "/", "api")),
			withRule("", path("Prefix", "/catch", "web"))),
		newIngress("default", "fallback", 1, className("berth"), withDefault("def", 80)),
	}
	h := startHarness(t, objs...)

	tests := []struct {
		host, target string
		status       int
		pod          string
	}{
		{"web.example.com", "/", 200, "web-1"},
		{"web.example.com:8080", "/x/y?q=1", 200, "web-1"},
		{"web.example.com", "/api", 200, "api-1"},
		{"web.example.com", "/api/x", 200, "web-1"},
		{"x.apps.example.com", "/anything", 200, "api-1"},
		{"a.b.apps.example.com", "/", 200, "default-1"},
		{"other.com", "/catch/1", 200, "web-1"},
		{"other.com", "/catchall", 200, "default-1"},
		{"web.example.com", "/empty", 503, ""},
		{"web.example.com", "/metrics", 200, "metrics-1"},
	}
	for _, tt := range tests {
		a := h.get(tt.host, tt.target)
		if a.status != tt.status || a.echo.Pod != tt.pod {
			t.Errorf("%s%s: status %d from %q, want %d from %q (body %q)", tt.host, tt.target, a.status, a.echo.Pod, tt.status, tt.pod, a.body)
		}
	}

	// What the pod sees.
	a, err := h.do(http.MethodPost, "web.example.com", "/submit?x=1&y=2", "payload")
	if err != nil {
		t.Fatal(err)
	}
	e := a.echo
	port := h.httpURL[strings.LastIndexByte(h.httpURL, ':')+1:]
	for _, c := range []struct{ name, got, want string }{
		{"method", e.Method, "POST"},
		{"host", e.Host, "web.example.com"},
		{"path", e.Path, "/submit"},
		{"query", e.Query, "x=1&y=2"},
		{"body", e.Body, "payload"},
		{"X-Forwarded-For", e.Header.Get("X-Forwarded-For"), "127.0.0.1"},
		{"X-Forwarded-Host", e.Header.Get("X-Forwarded-Host"), "web.example.com"},
		{"X-Forwarded-Proto", e.Header.Get("X-Forwarded-Proto"), "http"},
		{"X-Forwarded-Port", e.Header.Get("X-Forwarded-Port"), port},
	} {
		if c.got != c.want {
			t.Errorf("pod saw %s %q, want %q", c.name, c.got, c.want)
		}
	}
	// Forwarding headers from the client are not trusted: replaced, as
	// ingress-nginx and traefik do by default.
	req, _ := http.NewRequest(http.MethodGet, h.httpURL+"/", nil)
	req.Host = "web.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Port", "1")
	a, err = h.send(h.http, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.echo.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if got := a.echo.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto %q, want http (client's value replaced)", got)
	}
	if got := a.echo.Header.Get("X-Forwarded-Port"); got != port {
		t.Errorf("X-Forwarded-Port %q, want %s", got, port)
	}

	// One log line per request with what matters.
	logs := h.logs.String()
	for _, want := range []string{"msg=request", "method=POST", "host=web.example.com", "path=/submit", "status=200", "backend=default/web:80", "endpoint=" + web.addr(), "ingress=default/main", "bytes="} {
		if !strings.Contains(logs, want) {
			t.Errorf("request log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "msg=request"); n != len(tests)+2 {
		t.Errorf("%d request log lines, want %d", n, len(tests)+2)
	}

	// Without the default backend, unmatched requests get 404.
	if err := h.client.NetworkingV1().Ingresses("default").Delete(ctx, "fallback", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("nothing.example.com", "/"); a.status != http.StatusNotFound {
			return fmt.Errorf("status %d", a.status)
		}
		return nil
	})
}

func TestClassSelectionLive(t *testing.T) {
	p := newPod(t, "p")
	ing := func(name string, opts ...ingressOpt) *networkingv1.Ingress {
		return newIngress("default", name, 0, append(opts, withRule(name+".example.com", path("Prefix", "/", "web")))...)
	}
	h := startHarness(t,
		newService("default", "web"), sliceFor(t, "default", "web-a", "web", "", p.addr(), true),
		ing("own", className("berth")),
		ing("other", className("nginx")),
		ing("legacy", legacyClass("berth")),
		ing("legacy-other", legacyClass("nginx")),
		ing("classless"),
	)
	status := func(host string) int { return h.get(host+".example.com", "/").status }
	for host, want := range map[string]int{"own": 200, "other": 404, "legacy": 200, "legacy-other": 404, "classless": 404} {
		if got := status(host); got != want {
			t.Errorf("%s: status %d, want %d", host, got, want)
		}
	}
	// Once berth is the default class, Ingresses without a class are ours.
	if _, err := h.client.NetworkingV1().IngressClasses().Create(ctx, defaultClass("berth", DefaultControllerName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if s := status("classless"); s != 200 {
			return fmt.Errorf("classless: status %d", s)
		}
		return nil
	})
	if got := status("other"); got != 404 {
		t.Errorf("other class served (status %d) after the default class appeared", got)
	}
}

func TestTLSBySNI(t *testing.T) {
	p := newPod(t, "secure")
	h := startHarness(t,
		newService("default", "web"), sliceFor(t, "default", "web-a", "web", "", p.addr(), true),
		tlsSecret(t, "default", "exact", "exact-cert", "a.example.com"),
		tlsSecret(t, "default", "wild", "wildcard-cert", "*.example.com"),
		newIngress("default", "tls", 0, className("berth"),
			withTLS("exact", "a.example.com"), withTLS("wild", "*.example.com"),
			withRule("", path("Prefix", "/", "web"))),
	)
	for _, tt := range []struct{ sni, want string }{
		{"a.example.com", "exact-cert"},
		{"b.example.com", "wildcard-cert"},
		{"x.b.example.com", DefaultCertificateName},
		{"unknown.org", DefaultCertificateName},
		{"", DefaultCertificateName},
	} {
		got, err := h.servedCert(tt.sni)
		if err != nil {
			t.Fatalf("%q: %v", tt.sni, err)
		}
		if got != tt.want {
			t.Errorf("server name %q: served %q, want %q", tt.sni, got, tt.want)
		}
	}

	// A request over HTTPS (HTTP/2) verifies against the Secret's
	// certificate and reaches the pod with X-Forwarded-Proto https.
	sec, err := h.client.CoreV1().Secrets("default").Get(ctx, "exact", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := newCertPool(t, sec.Data[corev1.TLSCertKey])
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "a.example.com"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", h.httpsAddr)
		},
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://a.example.com/hello", nil)
	a, err := h.send(&http.Client{Transport: tr, Timeout: 5 * time.Second}, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 200 || a.echo.Pod != "secure" || a.proto != "HTTP/2.0" {
		t.Errorf("https: status %d pod %q proto %s", a.status, a.echo.Pod, a.proto)
	}
	if got := a.echo.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", got)
	}
	// Plain HTTP to the same host is served, not redirected.
	if a := h.get("a.example.com", "/"); a.status != 200 {
		t.Errorf("plain http to a TLS host: status %d, want 200", a.status)
	}

	// A new certificate in the Secret is served after the update.
	renewed := tlsSecret(t, "default", "exact", "renewed-cert", "a.example.com")
	renewed.ResourceVersion = "2"
	if _, err := h.client.CoreV1().Secrets("default").Update(ctx, renewed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		got, err := h.servedCert("a.example.com")
		if err != nil || got != "renewed-cert" {
			return fmt.Errorf("served %q, %v", got, err)
		}
		return nil
	})
}

func TestWebSocketEcho(t *testing.T) {
	p := newPod(t, "ws")
	h := startHarness(t,
		newService("default", "web"), sliceFor(t, "default", "web-a", "web", "", p.addr(), true),
		newIngress("default", "ws", 0, className("berth"), withRule("ws.example.com", path("Prefix", "/", "web"))),
	)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %s, accept %q", res.Status, res.Header.Get("Sec-WebSocket-Accept"))
	}
	for _, msg := range []string{"hello", "through the ingress", strings.Repeat("x", 70000)} {
		if err := wsWrite(conn, 1, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, got, err := wsRead(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 1 || string(got) != msg {
			t.Fatalf("echo: op %d, %d bytes, want text of %d", op, len(got), len(msg))
		}
	}
	if err := wsWrite(conn, 8, nil, true); err != nil {
		t.Fatal(err)
	}
	if op, _, err := wsRead(br); err != nil || op != 8 {
		t.Fatalf("close: op %d, %v", op, err)
	}
	conn.Close()
	eventually(t, func() error {
		if !strings.Contains(h.logs.String(), "status=101") {
			return fmt.Errorf("no request log with status 101")
		}
		return nil
	})
}

func TestEventStreamFlushed(t *testing.T) {
	p := newPod(t, "sse")
	h := startHarness(t,
		newService("default", "web"), sliceFor(t, "default", "web-a", "web", "", p.addr(), true),
		newIngress("default", "sse", 0, className("berth"), withRule("", path("Prefix", "/", "web"))),
	)
	req, _ := http.NewRequest(http.MethodGet, h.httpURL+"/events", nil)
	res, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The pod holds the stream open after the first event until released
	// (or 5s): the first event must arrive well before.
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(res.Body).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "data: first from sse\n" {
			t.Errorf("first line %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("first event not flushed through the ingress")
	}
}

func TestRetryWhenEndpointRefuses(t *testing.T) {
	live := newPod(t, "live")
	// An address that refuses connections: a listener closed again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h := startHarness(t,
		newService("default", "web"),
		sliceFor(t, "default", "web-live", "web", "", live.addr(), true),
		sliceFor(t, "default", "web-dead", "web", "", dead, true),
		newIngress("default", "retry", 0, className("berth"), withRule("", path("Prefix", "/", "web"))),
	)
	// The informers' first events may rebuild the table once more after
	// Ready: wait until it stays put, so that the turn set below is the
	// one the request uses.
	for stable := 0; stable < 5; {
		before := h.ctrl.table.Load()
		time.Sleep(20 * time.Millisecond)
		if h.ctrl.table.Load() == before {
			stable++
		} else {
			stable = 0
		}
	}
	// Each request is made to try the refusing endpoint first: the
	// round-robin turn points at it and it is not marked down.
	for i := range 30 {
		be := h.ctrl.table.Load().route("retry.example.com", "/").backend
		if len(be.endpoints) != 2 {
			t.Fatalf("endpoints %v", be.endpoints)
		}
		deadIdx := 0
		if be.endpoints[1] == dead {
			deadIdx = 1
		}
		be.next.Store(uint32(deadIdx))
		be.down[deadIdx].Store(0)
		method, body := http.MethodGet, ""
		if i%2 == 1 {
			method, body = http.MethodPost, fmt.Sprintf("body-%d", i)
		}
		a, err := h.do(method, "retry.example.com", "/", body)
		if err != nil {
			t.Fatal(err)
		}
		if a.status != 200 || a.echo.Pod != "live" || a.echo.Body != body {
			t.Fatalf("%s #%d: status %d from %q with body %q", method, i, a.status, a.echo.Pod, a.echo.Body)
		}
	}
	if n := strings.Count(h.logs.String(), "attempts=2"); n != 30 {
		t.Errorf("%d requests logged with 2 attempts, want 30", n)
	}
	// Round-robin without resetting: the refusing endpoint is passed over
	// after a failure, and no request fails.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				a, err := h.do(http.MethodPost, "retry.example.com", "/", "x")
				if err != nil || a.status != 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("worker %d #%d: %v %d", w, i, err, a.status))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d failed requests: %v", len(failures), failures)
	}

	// With every endpoint refusing, the answer is 502.
	if err := h.client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("retry.example.com", "/"); a.status != http.StatusBadGateway {
			return fmt.Errorf("status %d", a.status)
		}
		return nil
	})
}

func TestEndpointReadiness(t *testing.T) {
	a, b := newPod(t, "a"), newPod(t, "b")
	h := startHarness(t,
		newService("default", "web"),
		sliceFor(t, "default", "web-a", "web", "", a.addr(), true),
		sliceFor(t, "default", "web-b", "web", "", b.addr(), true),
		newIngress("default", "rr", 0, className("berth"), withRule("", path("Prefix", "/", "web"))),
	)
	counts := func(n int) map[string]int {
		m := map[string]int{}
		for range n {
			m[h.get("x", "/").echo.Pod]++
		}
		return m
	}
	if c := counts(20); c["a"] != 10 || c["b"] != 10 {
		t.Errorf("round-robin over two ready endpoints: %v, want 10 each", c)
	}
	setB := func(mod func(*discoveryv1.Endpoint)) {
		t.Helper()
		s := sliceFor(t, "default", "web-b", "web", "", b.addr(), true)
		mod(&s.Endpoints[0])
		if _, err := h.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	onlyA := func() error {
		if c := counts(10); c["b"] > 0 {
			return fmt.Errorf("b still gets requests: %v", c)
		}
		return nil
	}
	for _, tt := range []struct {
		name string
		mod  func(*discoveryv1.Endpoint)
	}{
		{"not ready", func(e *discoveryv1.Endpoint) { e.Conditions.Ready = ptr(false) }},
		{"terminating", func(e *discoveryv1.Endpoint) {
			e.Conditions.Ready, e.Conditions.Serving, e.Conditions.Terminating = ptr(false), ptr(true), ptr(true)
		}},
	} {
		setB(func(*discoveryv1.Endpoint) {})
		eventually(t, func() error {
			if c := counts(10); c["b"] == 0 {
				return fmt.Errorf("b not back: %v", c)
			}
			return nil
		})
		setB(tt.mod)
		took := eventually(t, onlyA)
		if c := counts(50); c["b"] > 0 || c["a"] != 50 {
			t.Errorf("%s: %v, want all 50 on a", tt.name, c)
		}
		t.Logf("%s endpoint dropped within %s", tt.name, took)
	}
	// No ready endpoint at all: 503.
	s := sliceFor(t, "default", "web-a", "web", "", a.addr(), false)
	if _, err := h.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("x", "/"); a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("status %d", a.status)
		}
		return nil
	})
}

func TestUpdatesApply(t *testing.T) {
	one, two := newPod(t, "one"), newPod(t, "two")
	h := startHarness(t,
		newService("default", "one"), sliceFor(t, "default", "one-a", "one", "", one.addr(), true),
		newService("default", "two"), sliceFor(t, "default", "two-a", "two", "", two.addr(), true),
		newIngress("default", "app", 0, className("berth"), withRule("app.example.com", path("Prefix", "/", "one"))),
	)
	if a := h.get("app.example.com", "/"); a.echo.Pod != "one" {
		t.Fatalf("before: %q", a.echo.Pod)
	}
	updated := newIngress("default", "app", 0, className("berth"), withRule("app.example.com", path("Prefix", "/", "two")))
	if _, err := h.client.NetworkingV1().Ingresses("default").Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, func() error {
		if a := h.get("app.example.com", "/"); a.echo.Pod != "two" {
			return fmt.Errorf("still %q", a.echo.Pod)
		}
		return nil
	})
	t.Logf("ingress update applied within %s", took)
	if took > time.Second {
		t.Errorf("update took %s", took)
	}

	// A Service that appears later (referenced before it existed).
	three := newPod(t, "three")
	withThree := newIngress("default", "app", 0, className("berth"),
		withRule("app.example.com", path("Prefix", "/", "two"), path("Prefix", "/three", "three")))
	if _, err := h.client.NetworkingV1().Ingresses("default").Update(ctx, withThree, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("app.example.com", "/three"); a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("status %d", a.status)
		}
		return nil
	})
	if _, err := h.client.CoreV1().Services("default").Create(ctx, newService("default", "three"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DiscoveryV1().EndpointSlices("default").Create(ctx, sliceFor(t, "default", "three-a", "three", "", three.addr(), true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("app.example.com", "/three"); a.echo.Pod != "three" {
			return fmt.Errorf("status %d pod %q", a.status, a.echo.Pod)
		}
		return nil
	})

	if err := h.client.NetworkingV1().Ingresses("default").Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if a := h.get("app.example.com", "/"); a.status != http.StatusNotFound {
			return fmt.Errorf("status %d after delete", a.status)
		}
		return nil
	})
}

func TestGracefulShutdown(t *testing.T) {
	p := newPod(t, "slow")
	h := startHarness(t,
		newService("default", "web"), sliceFor(t, "default", "web-a", "web", "", p.addr(), true),
		newIngress("default", "sd", 0, className("berth"), withRule("", path("Prefix", "/", "web"))),
	)
	// A streaming request in flight when the context ends completes once
	// the pod finishes it.
	res, err := h.http.Get(h.httpURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(h.httpURL, "http://"), time.Second); err == nil {
		t.Errorf("listener still accepts after the context ended")
	}
	p.release <- struct{}{}
	body, err := readAll(res)
	if err != nil || !strings.Contains(body, "data: last") {
		t.Errorf("in-flight stream: %q, %v", body, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
