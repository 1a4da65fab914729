package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/server/servertest"
	"berth/agent/stats"
	"berth/pki"
)

// fakeRuntime holds containers and sandboxes and records stream requests.
type fakeRuntime struct {
	containers []*runtimeapi.Container
	sandboxes  []*runtimeapi.PodSandbox
	logs       map[string]string // container ID -> log path
	execs      []*runtimeapi.ExecRequest
	attaches   []*runtimeapi.AttachRequest
	forwards   []*runtimeapi.PortForwardRequest
	streamURL  string
}

func (f *fakeRuntime) ListPodSandbox(_ context.Context, in *runtimeapi.ListPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error) {
	var out []*runtimeapi.PodSandbox
	for _, s := range f.sandboxes {
		if matches(s.Labels, in.Filter.GetLabelSelector()) && (in.Filter.GetState() == nil || in.Filter.State.State == s.State) {
			out = append(out, s)
		}
	}
	return &runtimeapi.ListPodSandboxResponse{Items: out}, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, in *runtimeapi.ListContainersRequest, _ ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	var out []*runtimeapi.Container
	for _, c := range f.containers {
		if matches(c.Labels, in.Filter.GetLabelSelector()) {
			out = append(out, c)
		}
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func matches(labels, sel map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	for _, c := range f.containers {
		if c.Id == in.ContainerId {
			return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: c.Id, State: c.State, LogPath: f.logs[c.Id]}}, nil
		}
	}
	return nil, os.ErrNotExist
}

func (f *fakeRuntime) Exec(_ context.Context, in *runtimeapi.ExecRequest, _ ...grpc.CallOption) (*runtimeapi.ExecResponse, error) {
	f.execs = append(f.execs, in)
	return &runtimeapi.ExecResponse{Url: f.streamURL}, nil
}

func (f *fakeRuntime) Attach(_ context.Context, in *runtimeapi.AttachRequest, _ ...grpc.CallOption) (*runtimeapi.AttachResponse, error) {
	f.attaches = append(f.attaches, in)
	return &runtimeapi.AttachResponse{Url: f.streamURL}, nil
}

func (f *fakeRuntime) PortForward(_ context.Context, in *runtimeapi.PortForwardRequest, _ ...grpc.CallOption) (*runtimeapi.PortForwardResponse, error) {
	f.forwards = append(f.forwards, in)
	return &runtimeapi.PortForwardResponse{Url: f.streamURL}, nil
}

func container(id, pod, uid, name string, restarts string, created int64, state runtimeapi.ContainerState) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id: id, CreatedAt: created, State: state,
		Labels:      map[string]string{labelPodNamespace: "default", labelPodName: pod, labelPodUID: uid, labelContainerName: name},
		Annotations: map[string]string{annotationRestartCount: restarts},
	}
}

// testCA issues the certificates of a test: the agent's serving
// certificate and clients'.
type testCA struct {
	t *testing.T
	*servertest.CA
}

func newTestCA(t *testing.T) *testCA { return &testCA{t: t, CA: servertest.NewCA(t)} }

func (c *testCA) issue(l pki.Leaf) tls.Certificate { return c.Issue(c.t, l) }

func (c *testCA) pool() *x509.CertPool { return c.Pool() }

// client returns an HTTPS client with the given identity (none when cn is
// empty) that trusts the CA.
func (c *testCA) client(cn string, groups ...string) *http.Client {
	cfg := &tls.Config{RootCAs: c.pool()}
	if cn != "" {
		cfg.Certificates = []tls.Certificate{c.issue(pki.Leaf{CommonName: cn, Organization: groups})}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// startServer runs an agent server on a loopback port and returns its
// base URL.
func startServer(t *testing.T, ca *testCA, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	cfg.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.issue(pki.Leaf{CommonName: "node", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})},
		ClientCAs:    ca.pool(),
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

type fakeStats struct{ only bool }

func (f *fakeStats) Summary(_ context.Context, only bool) (*stats.Summary, error) {
	f.only = only
	return &stats.Summary{Node: stats.NodeStats{NodeName: "n1", StartTime: metav1.Unix(1, 0)}, Pods: []stats.PodStats{}}, nil
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthentication(t *testing.T) {
	ca := newTestCA(t)
	base := startServer(t, ca, Config{Runtime: &fakeRuntime{}, Stats: &fakeStats{}})
	other := newTestCA(t)
	tests := []struct {
		name   string
		client *http.Client
		path   string
		code   int
		body   string
	}{
		{"api server", ca.client(APIServerClientCN), "/stats/summary", 200, `"nodeName": "n1"`},
		{"cluster admin", ca.client("system:admin", "system:masters"), "/stats/summary", 200, `"nodeName": "n1"`},
		{"no certificate", ca.client(""), "/stats/summary", 401, "Unauthorized"},
		{"a node", ca.client("system:node:n2", "system:nodes"), "/containerLogs/default/p/c", 403,
			"Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource=proxy)"},
		{"healthz needs no certificate", ca.client(""), "/healthz", 200, "ok"},
		{"unknown path", ca.client(APIServerClientCN), "/nope", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, base+tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
	// A certificate of another CA fails the TLS handshake.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(),
		Certificates: []tls.Certificate{other.issue(pki.Leaf{CommonName: APIServerClientCN})}}}}
	if resp, err := c.Get(base + "/stats/summary"); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA was accepted: %d", resp.StatusCode)
	}
}

func TestSummaryEndpoint(t *testing.T) {
	ca := newTestCA(t)
	fs := &fakeStats{}
	base := startServer(t, ca, Config{Runtime: &fakeRuntime{}, Stats: fs})
	c := ca.client(APIServerClientCN)
	code, body := get(t, c, base+"/stats/summary?only_cpu_and_memory=true")
	var s stats.Summary
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || s.Node.NodeName != "n1" || !fs.only {
		t.Errorf("%d %s (only=%v)", code, body, fs.only)
	}
	noStats := startServer(t, ca, Config{Runtime: &fakeRuntime{}})
	if code, _ := get(t, c, noStats+"/stats/summary"); code != 503 {
		t.Errorf("without stats: %d", code)
	}
}

func TestLogsEndpoint(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	logFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	rt := &fakeRuntime{
		containers: []*runtimeapi.Container{
			container("web-0", "web", "u1", "app", "0", 100, runtimeapi.ContainerState_CONTAINER_EXITED),
			container("web-2", "web", "u1", "app", "2", 300, runtimeapi.ContainerState_CONTAINER_EXITED),
			container("web-1", "web", "u1", "app", "1", 200, runtimeapi.ContainerState_CONTAINER_EXITED),
			// A pod of the same name replaced the old one.
			container("db-old", "db", "u-old", "db", "5", 100, runtimeapi.ContainerState_CONTAINER_EXITED),
			container("db-new", "db", "u-new", "db", "0", 500, runtimeapi.ContainerState_CONTAINER_EXITED),
			container("one-0", "one", "u3", "c", "0", 100, runtimeapi.ContainerState_CONTAINER_EXITED),
		},
		logs: map[string]string{
			"web-0":  logFile("web-0", "2024-05-01T10:00:00Z stdout F attempt 0\n"),
			"web-1":  logFile("web-1", "2024-05-01T10:00:00Z stdout F attempt 1\n"),
			"web-2":  logFile("web-2", "2024-05-01T10:00:00Z stdout F attempt 2\n2024-05-01T10:00:01Z stderr F oops\n"),
			"db-old": logFile("db-old", "2024-05-01T10:00:00Z stdout F old pod\n"),
			"db-new": logFile("db-new", "2024-05-01T10:00:00Z stdout F new pod\n"),
			"one-0":  filepath.Join(dir, "missing"),
		},
	}
	base := startServer(t, ca, Config{Runtime: rt})
	c := ca.client(APIServerClientCN)
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/containerLogs/default/web/app", 200, "attempt 2\noops\n"},
		{"/containerLogs/default/web/app?previous=true", 200, "attempt 1\n"},
		{"/containerLogs/default/web/app?tailLines=1&timestamps=true", 200, "2024-05-01T10:00:01.000000000Z oops\n"},
		{"/containerLogs/default/web/app?follow=true", 200, "attempt 2\noops\n"}, // exited: nothing to follow
		{"/containerLogs/default/db/db", 200, "new pod\n"},
		{"/containerLogs/default/db/db?previous=true", 400, `previous terminated container "db" in pod "db" not found`},
		{"/containerLogs/default/web/nope", 404, `container "nope" in pod "web" is not available`},
		{"/containerLogs/default/web/app?tailLines=-3", 422, `{"message": "Invalid request."}`},
		{"/containerLogs/default/one/c", 500, "no such file or directory"},
	}
	for _, tc := range tests {
		code, body := get(t, c, base+tc.path)
		if code != tc.code || (tc.code == 200 && body != tc.body) || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

func TestStreamRequests(t *testing.T) {
	ca := newTestCA(t)
	// The runtime's streaming server: answers what it was asked.
	streaming := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "streamed "+r.URL.Path)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go streaming.Serve(ln)
	t.Cleanup(func() { streaming.Close() })
	rt := &fakeRuntime{
		containers: []*runtimeapi.Container{
			container("web-1", "web", "u1", "app", "1", 200, runtimeapi.ContainerState_CONTAINER_RUNNING),
			container("web-0", "web", "u1", "app", "0", 100, runtimeapi.ContainerState_CONTAINER_EXITED),
			container("dead", "dead", "u2", "app", "0", 100, runtimeapi.ContainerState_CONTAINER_EXITED),
		},
		sandboxes: []*runtimeapi.PodSandbox{{Id: "sb-web", State: runtimeapi.PodSandboxState_SANDBOX_READY,
			Labels: map[string]string{labelPodNamespace: "default", labelPodName: "web", labelPodUID: "u1"}}},
		streamURL: "http://" + ln.Addr().String() + "/exec/token123",
	}
	base := startServer(t, ca, Config{Runtime: rt})
	c := ca.client(APIServerClientCN)
	spdy := []string{"Connection", "Upgrade", "Upgrade", "SPDY/3.1", "X-Stream-Protocol-Version", "v4.channel.k8s.io"}
	ws := func(protocols string) []string {
		return []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
			"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol", protocols}
	}
	tests := []struct {
		name string
		path string
		hdr  []string
		code int
		body string
	}{
		{"exec over SPDY", "/exec/default/web/app?command=ls&command=-l&stdin=1&stdout=1&tty=1&stderr=1", spdy, 418, "streamed /exec/token123"},
		{"exec with the pod uid", "/exec/default/web/u1/app?command=ls&stdout=1", spdy, 418, "streamed /exec/token123"},
		{"exec of another uid", "/exec/default/web/u9/app?command=ls&stdout=1", spdy, 404, `container not found ("app")`},
		{"exec over WebSocket v4", "/exec/default/web/app?command=ls&stdout=1", ws("v4.channel.k8s.io"), 418, "streamed"},
		{"exec over WebSocket v5 only", "/exec/default/web/app?command=ls&stdout=1", ws("v5.channel.k8s.io"), 400,
			"does not support the WebSocket protocols [v5.channel.k8s.io]"},
		{"exec over WebSocket v5 or v4", "/exec/default/web/app?command=ls&stdout=1", ws("v5.channel.k8s.io, v4.channel.k8s.io"), 418, "streamed"},
		{"exec without upgrade", "/exec/default/web/app?command=ls&stdout=1", nil, 400, "Upgrade request required"},
		{"exec without streams", "/exec/default/web/app?command=ls", spdy, 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"exec in a stopped container", "/exec/default/dead/app?command=ls&stdout=1", spdy, 404, `container not found ("app")`},
		{"exec without a command", "/exec/default/web/app?stdout=1", spdy, 400, "at least one command"},
		{"attach", "/attach/default/web/app?stdin=1&stdout=1", spdy, 418, "streamed"},
		{"port-forward", "/portForward/default/web?port=8080&port=9090", spdy, 418, "streamed"},
		{"port-forward over tunnelled SPDY", "/portForward/default/web", ws("SPDY/3.1+portforward.k8s.io"), 400, "use SPDY"},
		{"port-forward to a missing pod", "/portForward/default/nope", spdy, 404, "pod does not exist"},
		{"port-forward to a bad port", "/portForward/default/web?port=http", spdy, 400, `invalid port "http"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, c, base+tc.path, tc.hdr...)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
	if len(rt.execs) != 4 {
		t.Fatalf("%d execs: %v", len(rt.execs), rt.execs)
	}
	if e := rt.execs[0]; e.ContainerId != "web-1" || strings.Join(e.Cmd, " ") != "ls -l" || !e.Stdin || !e.Stdout || !e.Tty || e.Stderr {
		t.Errorf("exec request %+v (a terminal has no separate stderr)", e)
	}
	if len(rt.attaches) != 1 || !rt.attaches[0].Stdin || rt.attaches[0].ContainerId != "web-1" {
		t.Errorf("attach requests %v", rt.attaches)
	}
	if len(rt.forwards) != 1 || rt.forwards[0].PodSandboxId != "sb-web" || len(rt.forwards[0].Port) != 2 || rt.forwards[0].Port[1] != 9090 {
		t.Errorf("port-forward requests %v", rt.forwards)
	}
}

func TestConfigValidate(t *testing.T) {
	ca := newTestCA(t)
	serving := []tls.Certificate{ca.issue(pki.Leaf{CommonName: "node", Server: true})}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no TLS", Config{Runtime: &fakeRuntime{}}},
		{"no client CA", Config{Runtime: &fakeRuntime{}, TLS: &tls.Config{Certificates: serving}}},
		{"no runtime", Config{TLS: &tls.Config{Certificates: serving, ClientCAs: ca.pool()}}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
