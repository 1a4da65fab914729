package nodeproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/agent/server/servertest"
	"berth/pki"
)

func podWith(name, nodeName string, init, containers []string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: nodeName}}
	for _, c := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: c})
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

func TestValidateContainer(t *testing.T) {
	tests := []struct {
		name      string
		pod       *corev1.Pod
		container string
		want      string
		err       string
	}{
		{"the only container", podWith("web", "n", nil, []string{"app"}), "", "app", ""},
		{"named", podWith("web", "n", nil, []string{"a", "b"}), "b", "b", ""},
		{"an init container", podWith("web", "n", []string{"setup"}, []string{"a"}), "setup", "setup", ""},
		{"several, none named", podWith("web", "n", []string{"setup"}, []string{"a", "b"}), "", "",
			"a container name must be specified for pod web, choose one of: [setup a b]"},
		{"none", podWith("web", "n", nil, nil), "", "", "a container name must be specified for pod web"},
		{"unknown", podWith("web", "n", nil, []string{"a"}), "x", "", "container x is not valid for pod web"},
	}
	for _, tc := range tests {
		got, err := validateContainer(tc.container, tc.pod)
		if tc.err != "" {
			if !apierrors.IsBadRequest(err) || err.Error() != tc.err {
				t.Errorf("%s: %v, want BadRequest %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestWaitingMessage(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	tests := []struct {
		name     string
		statuses []corev1.ContainerStatus
		previous bool
		want     string
	}{
		{"not reported yet", nil, false, `container "c" in pod "p" is waiting to start: ContainerCreating`},
		{"creating", []corev1.ContainerStatus{waiting("ContainerCreating")}, false, `container "c" in pod "p" is waiting to start: ContainerCreating`},
		{"pull failed", []corev1.ContainerStatus{waiting("ErrImagePull")}, false, `container "c" in pod "p" is waiting to start: image can't be pulled`},
		{"pull back-off", []corev1.ContainerStatus{waiting("ImagePullBackOff")}, false, `container "c" in pod "p" is waiting to start: trying and failing to pull image`},
		{"no reason", []corev1.ContainerStatus{waiting("")}, false, `container "c" in pod "p" is waiting to start - no logs yet`},
		{"running", []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}, false, ""},
		{"previous", []corev1.ContainerStatus{waiting("CrashLoopBackOff")}, true, `previous terminated container "c" in pod "p" not found`},
	}
	for _, tc := range tests {
		p := podWith("p", "n", nil, []string{"c"})
		p.Status.ContainerStatuses = tc.statuses
		if got := waitingMessage(p, "c", tc.previous); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLogOptions(t *testing.T) {
	tests := []struct {
		query   string
		agent   string // the agent's query
		invalid string
		bad     bool
	}{
		{query: "", agent: ""},
		{query: "container=c&follow=true&previous=1&timestamps=true", agent: "follow=true&previous=true&timestamps=true"},
		{query: "follow=false&timestamps=0", agent: ""},
		{query: "tailLines=5&limitBytes=100&sinceSeconds=60", agent: "limitBytes=100&sinceSeconds=60&tailLines=5"},
		{query: "sinceTime=2024-05-01T10:00:00%2B02:00", agent: "sinceTime=2024-05-01T08%3A00%3A00Z"},
		{query: "tailLines=-1", invalid: "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{query: "limitBytes=0", invalid: "limitBytes: Invalid value: 0: must be greater than 0"},
		{query: "sinceSeconds=0", invalid: "sinceSeconds: Invalid value: 0: must be greater than 0"},
		{query: "sinceSeconds=1&sinceTime=2024-05-01T10:00:00Z", invalid: "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{query: "tailLines=ten", bad: true},
		{query: "sinceTime=noon", bad: true},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		opts, err := parseLogOptions(q)
		if tc.bad {
			if !apierrors.IsBadRequest(err) {
				t.Errorf("%q: %v, want BadRequest", tc.query, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		errs := validateLogOptions(opts)
		if tc.invalid != "" {
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.invalid) {
				t.Errorf("%q: %v, want %q", tc.query, errs, tc.invalid)
			}
			continue
		}
		if len(errs) > 0 {
			t.Errorf("%q: %v", tc.query, errs)
		}
		if got := logQuery(opts).Encode(); got != tc.agent {
			t.Errorf("%q: agent query %q, want %q", tc.query, got, tc.agent)
		}
	}
}

func TestStreamParams(t *testing.T) {
	q, _ := url.ParseQuery("stdin=true&stdout=1&stderr=false&tty=true&command=ls&container=c")
	if got := streamParams(q).Encode(); got != "stdin=1&stdout=1&tty=1" {
		t.Errorf("stream parameters %q", got)
	}
}

func testProxy(t *testing.T, nodes ...*corev1.Node) *Proxy {
	ca := servertest.NewCA(t)
	p, err := New(Config{
		ClientCert: ca.Issue(t, pki.Leaf{CommonName: "kube-apiserver-kubelet-client"}),
		RootCAs:    ca.Pool(),
		Nodes: NodeGetterFunc(func(_ context.Context, name string) (*corev1.Node, error) {
			for _, n := range nodes {
				if n.Name == name {
					return n, nil
				}
			}
			return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAgentURL(t *testing.T) {
	addr := func(tp corev1.NodeAddressType, a string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: tp, Address: a}
	}
	nodes := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "internal"}, Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{addr(corev1.NodeHostName, "host1"), addr(corev1.NodeExternalIP, "1.2.3.4"), addr(corev1.NodeInternalIP, "10.0.0.1")},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 12345}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "hostname"}, Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{addr(corev1.NodeExternalIP, "1.2.3.4"), addr(corev1.NodeHostName, "host2")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "v6"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{addr(corev1.NodeInternalIP, "fd00::1")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "none"}},
	}
	p := testProxy(t, nodes...)
	tests := []struct {
		node, want, err string
	}{
		{"internal", "https://10.0.0.1:12345/containerLogs/ns/p/c?follow=true", ""},
		{"hostname", "https://host2:10250/containerLogs/ns/p/c?follow=true", ""},
		{"v6", "https://[fd00::1]:10250/containerLogs/ns/p/c?follow=true", ""},
		{"none", "", "no preferred addresses found; known addresses: []"},
		{"missing", "", `nodes "missing" not found`},
	}
	for _, tc := range tests {
		u, err := p.agentURL(context.Background(), tc.node, "/containerLogs/ns/p/c", url.Values{"follow": {"true"}})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %v, want %q", tc.node, err, tc.err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.node, u, err, tc.want)
		}
	}
}

func TestProxyPath(t *testing.T) {
	tests := []struct {
		url, node, path, query string
	}{
		{"/api/v1/nodes/n1/proxy/stats/summary?only_cpu_and_memory=true", "n1", "/stats/summary", "only_cpu_and_memory=true"},
		{"/api/v1/nodes/proxy/proxy/healthz", "proxy", "/healthz", ""},
		{"/api/v1/nodes/n1/proxy?path=/stats/summary&x=1", "n1", "/stats/summary", "x=1"},
		{"/api/v1/nodes/n1/proxy?path=healthz", "n1", "/healthz", ""},
		{"/api/v1/nodes/n1/proxy", "n1", "/", ""},
		{"/api/v1/nodes/n1/proxy/containerLogs/ns/p%2Fx/c", "n1", "/containerLogs/ns/p/x/c", ""},
	}
	for _, tc := range tests {
		u, _ := url.Parse(tc.url)
		path, q := proxyPath(u, tc.node)
		if path != tc.path || q.Encode() != tc.query {
			t.Errorf("%s: %q %q, want %q %q", tc.url, path, q.Encode(), tc.path, tc.query)
		}
	}
}

// The API server's request deadline does not end a stream; cancellation
// does.
func TestLongRunning(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	ctx, stop := longRunning(parent)
	defer stop()
	<-parent.Done()
	select {
	case <-ctx.Done():
		t.Fatal("the deadline ended the stream")
	case <-time.After(50 * time.Millisecond):
	}
	parent2, cancel2 := context.WithCancel(context.Background())
	ctx2, stop2 := longRunning(parent2)
	defer stop2()
	cancel2()
	select {
	case <-ctx2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancellation did not end the stream")
	}
}

// fakeAgent is an agent that switches to "SPDY" and then echoes what it
// reads in upper case, or refuses with 400 when asked for protocols it
// does not know.
func fakeAgent(t *testing.T, ca *servertest.CA) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "SPDY/3.1" || r.URL.Path != "/portForward/default/web" {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.String(), http.StatusTeapot)
			return
		}
		if r.Header.Get("X-Stream-Protocol-Version") != "portforward.k8s.io" {
			http.Error(w, "unknown protocol", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				conn.Write(bytes.ToUpper(buf[:n]))
			}
			if err != nil {
				return
			}
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, pki.Leaf{CommonName: "n1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// kubectl 1.31+ tunnels port-forward's SPDY through a WebSocket: the proxy
// asks the agent for SPDY, then carries the bytes in binary messages.
func TestPortForwardTunnel(t *testing.T) {
	ca := servertest.NewCA(t)
	agent := fakeAgent(t, ca)
	host, port, _ := net.SplitHostPort(agent.Listener.Addr().String())
	var portNum int32
	fmt.Sscan(port, &portNum)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: portNum}}}}
	p, err := New(Config{ClientCert: ca.Issue(t, pki.Leaf{CommonName: "kube-apiserver-kubelet-client"}), RootCAs: ca.Pool(),
		Nodes: NodeGetterFunc(func(context.Context, string) (*corev1.Node, error) { return node, nil })})
	if err != nil {
		t.Fatal(err)
	}
	pod := podWith("web", "n1", nil, []string{"app"})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.PortForward(r.Context(), pod, w, r); err != nil {
			writeStatus(w, err)
		}
	}))
	defer api.Close()
	wsURL := "ws" + strings.TrimPrefix(api.URL, "http") + "/api/v1/namespaces/default/pods/web/portforward"

	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Sec-WebSocket-Protocol": {"SPDY/3.1+portforward.k8s.io"}})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != "SPDY/3.1+portforward.k8s.io" {
		t.Errorf("subprotocol %q", ws.Subprotocol())
	}
	for _, msg := range []string{"hello", "tunnel"} {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != strings.ToUpper(msg) {
			t.Errorf("echo of %q: %q %v", msg, got, err)
		}
	}
	ws.Close()

	// The agent refuses: the handshake fails with its answer, so that
	// kubectl falls back to SPDY.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Sec-WebSocket-Protocol": {"SPDY/3.1+portforward.k8s.io.v9"}})
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refused tunnel: %v %v", err, resp)
	} else if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "unknown protocol") {
		t.Errorf("refusal %q", b)
	}

	// Plain SPDY goes through as it is.
	conn, err := net.Dial("tcp", api.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /api/v1/namespaces/default/pods/web/portforward HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("SPDY upgrade: %v %v", res, err)
	}
	conn.Write([]byte("spdy bytes"))
	got := make([]byte, len("SPDY BYTES"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "SPDY BYTES" {
		t.Errorf("SPDY echo %q %v", got, err)
	}
}

// An agent that cannot be reached is reported as Kubernetes reports it.
func TestUnreachableAgent(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(addr.Port)}}}}
	p := testProxy(t, node)
	pod := podWith("web", "n1", nil, []string{"app"})
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	rec := httptest.NewRecorder()
	err := p.Log(context.Background(), pod, rec, httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/web/log", nil))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.Status().Code != 500 || !strings.Contains(se.Error(), "connection refused") {
		t.Errorf("logs: %v", err)
	}
	req := httptest.NewRequest("POST", "/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=1", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	rec = httptest.NewRecorder()
	if err := p.Exec(context.Background(), pod, rec, req); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"message":"error dialing backend: dial tcp 127.0.0.1:`) {
		t.Errorf("exec: %d %s", rec.Code, rec.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	ca := servertest.NewCA(t)
	if _, err := New(Config{RootCAs: ca.Pool()}); err == nil {
		t.Error("no client certificate accepted")
	}
	if _, err := New(Config{ClientCert: ca.Issue(t, pki.Leaf{CommonName: "x"})}); err == nil {
		t.Error("no CA accepted")
	}
}
