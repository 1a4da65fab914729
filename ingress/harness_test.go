package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// harness runs a controller over a fake clientset with real listeners on
// 127.0.0.1.
type harness struct {
	t         testing.TB
	client    *fake.Clientset
	ctrl      *Controller
	httpURL   string // http://127.0.0.1:port
	httpsAddr string // 127.0.0.1:port
	http      *http.Client
	logs      *syncBuffer
	stop      func() error
}

func startHarness(t testing.TB, objs ...runtime.Object) *harness {
	t.Helper()
	logs := &syncBuffer{}
	h := startHarnessLogging(t, logs, objs...)
	h.logs = logs
	return h
}

// startHarnessLogging starts a harness logging to w.
func startHarnessLogging(t testing.TB, w io.Writer, objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, client: fake.NewClientset(objs...)}
	factory := informers.NewSharedInformerFactory(h.client, 0)
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.ctrl, err = New(Config{
		Informers:     factory,
		HTTPListener:  httpLn,
		HTTPSListener: httpsLn,
		Logger:        slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- h.ctrl.Run(ctx) }()
	var once sync.Once
	var stopErr error
	h.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = errors.New("Run did not return")
			}
			factory.Shutdown()
		})
		return stopErr
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	h.http = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := h.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case <-h.ctrl.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("controller not ready")
	}
	addrs := h.ctrl.Addrs()
	h.httpURL = "http://" + addrs.HTTP.String()
	h.httpsAddr = addrs.HTTPS.String()
	return h
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// echo is what a test pod answers.
type echo struct {
	Pod    string
	Method string
	Host   string
	Path   string
	Query  string
	Body   string
	Header http.Header
}

// answer is the result of one request through the ingress.
type answer struct {
	status int
	echo   echo
	body   string
	proto  string
}

// do sends a request for host and target (path?query) over plain HTTP.
func (h *harness) do(method, host, target, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.httpURL+target, rd)
	if err != nil {
		return answer{}, err
	}
	req.Host = host
	return h.send(h.http, req)
}

func (h *harness) get(host, target string) answer {
	h.t.Helper()
	a, err := h.do(http.MethodGet, host, target, "")
	if err != nil {
		h.t.Fatalf("GET %s%s: %v", host, target, err)
	}
	return a
}

func (h *harness) send(c *http.Client, req *http.Request) (answer, error) {
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode, body: string(b), proto: res.Proto}
	if res.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &a.echo); err != nil {
			return a, err
		}
	}
	return a, nil
}

// eventually retries f until it succeeds or 5s pass.
func eventually(t testing.TB, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("condition not met after 5s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pod is a test backend standing in for a pod.
type pod struct {
	name    string
	srv     *httptest.Server
	hits    atomic.Int64
	release chan struct{} // lets /events finish
}

func (p *pod) addr() string { return p.srv.Listener.Addr().String() }

func newPod(t testing.TB, name string) *pod {
	t.Helper()
	p := &pod{name: name, release: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.release)
		p.srv.Close()
	})
	return p
}

func (p *pod) serve(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	switch r.URL.Path {
	case "/ws":
		wsEcho(w, r)
		return
	case "/events":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: first from %s\n\n", p.name)
		http.NewResponseController(w).Flush()
		select {
		case <-p.release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		fmt.Fprintf(w, "data: last\n\n")
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(echo{
		Pod: p.name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery,
		Body: string(body), Header: r.Header,
	})
}

// A minimal WebSocket (RFC 6455) for the tests: handshake and frames.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wsEcho is the server side: it echoes text frames until a close frame.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Version") != "13" {
		http.Error(w, "not a websocket handshake", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	if brw.Flush() != nil {
		return
	}
	for {
		op, payload, err := wsRead(brw.Reader)
		if err != nil {
			return
		}
		if err := wsWrite(conn, op, payload, false); err != nil || op == 8 {
			return
		}
	}
}

func wsRead(r *bufio.Reader) (op byte, payload []byte, err error) {
	var hdr [2]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	op = hdr[0] & 0x0f
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	masked := hdr[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, payload, nil
}

func wsWrite(w io.Writer, op byte, payload []byte, mask bool) error {
	frame := []byte{0x80 | op}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, m|byte(n))
	case n < 1<<16:
		frame = append(frame, m|126, byte(n>>8), byte(n))
	default:
		frame = append(frame, m|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	data := payload
	if mask {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		frame = append(frame, key[:]...)
		data = make([]byte, len(payload))
		for i := range payload {
			data[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(frame, data...))
	return err
}

// tlsDial connects to the HTTPS listener with a server name and returns
// the common name of the certificate served.
func (h *harness) servedCert(serverName string) (string, error) {
	conn, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no certificate")
	}
	return certs[0].Subject.CommonName, nil
}

func newCertPool(t testing.TB, certPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad certificate PEM")
	}
	return pool
}

func readAll(res *http.Response) (string, error) {
	b, err := io.ReadAll(res.Body)
	return string(b), err
}
