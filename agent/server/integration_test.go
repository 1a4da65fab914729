package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"berth/agent/server"
	"berth/agent/server/servertest"
	"berth/agent/stats"
	"berth/internal/testnode"
	"berth/pki"
)

// agent runs an agent server on a testnode.
type agent struct {
	base   string
	client *http.Client
	tls    *tls.Config
}

func startAgent(t *testing.T, n *testnode.Node) *agent {
	t.Helper()
	ca := servertest.NewCA(t)
	collector, err := stats.New(stats.Config{NodeName: "node1", Runtime: n.Runtime, FsDir: n.Dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{
		Listener: ln,
		TLS: &tls.Config{
			Certificates: []tls.Certificate{ca.Issue(t, pki.Leaf{CommonName: "node1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})},
			ClientCAs:    ca.Pool(),
		},
		Runtime:         n.Runtime,
		Stats:           collector,
		LogPollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent server: %v", err)
		}
	})
	cfg := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Issue(t, pki.Leaf{CommonName: server.APIServerClientCN})}}
	return &agent{base: "https://" + ln.Addr().String(), tls: cfg, client: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}}
}

func (a *agent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := a.client.Get(a.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dial opens a WebSocket to the agent with the given subprotocols.
func (a *agent) dial(path string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{TLSClientConfig: a.tls, Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	return d.Dial("wss"+strings.TrimPrefix(a.base, "https")+path, nil)
}

// The agent serves the logs of real containers, streams exec and
// port-forward to the runtime's streaming server, and reports stats.
func TestAgentWithContainerd(t *testing.T) {
	n := testnode.Start(t)
	a := startAgent(t, n)
	logs := filepath.Join(n.Dir, "logs")

	box := servertest.RunPod(t, n.Runtime, n.Images, logs, servertest.Sandbox{Namespace: "default", Name: "box", UID: "uid-box"})
	first := box.Start(t, servertest.Container{Name: "main", Args: []string{"sh", "-c", "echo first run; exit 1"}})
	box.WaitExited(t, first)
	box.Start(t, servertest.Container{Name: "main", Attempt: 1, Args: []string{"sh", "-c",
		"echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"}})
	web := servertest.RunPod(t, n.Runtime, n.Images, logs, servertest.Sandbox{Namespace: "default", Name: "web", UID: "uid-web"})
	web.Start(t, servertest.Container{Name: "app", Image: "berth/demo:v1"})

	t.Run("logs", func(t *testing.T) {
		var body string
		waitFor(t, func() bool {
			_, body = a.get(t, "/containerLogs/default/box/main")
			return strings.Contains(body, "tick 1\n")
		})
		if !strings.HasPrefix(body, "out1\nerr1\nout2\ntick 1\n") {
			t.Errorf("logs %q", body)
		}
		if code, body := a.get(t, "/containerLogs/default/box/main?previous=true"); code != 200 || body != "first run\n" {
			t.Errorf("previous: %d %q", code, body)
		}
		if code, body := a.get(t, "/containerLogs/default/box/main?tailLines=1&timestamps=true"); code != 200 ||
			!strings.Contains(body, "Z tick ") || strings.Count(body, "\n") != 1 || len(strings.Fields(body)[0]) != len("2006-01-02T15:04:05.000000000Z") {
			t.Errorf("tail with timestamps: %d %q", code, body)
		}
		if code, body := a.get(t, "/containerLogs/default/box/nope"); code != 404 || body != `container "nope" in pod "box" is not available` {
			t.Errorf("missing container: %d %q", code, body)
		}
	})

	t.Run("follow", func(t *testing.T) {
		resp, err := a.client.Get(a.base + "/containerLogs/default/box/main?follow=true&tailLines=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		var seen []string
		for len(seen) < 3 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", seen, err)
			}
			seen = append(seen, line)
		}
		for _, l := range seen {
			if !strings.HasPrefix(l, "tick ") {
				t.Errorf("followed lines %q", seen)
			}
		}
	})

	t.Run("exec over WebSocket", func(t *testing.T) {
		q := url.Values{"command": {"sh", "-c", "echo hello; echo oops >&2; exit 3"}, "stdout": {"1"}, "stderr": {"1"}}
		ws, _, err := a.dial("/exec/default/box/main?"+q.Encode(), "v4.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if ws.Subprotocol() != "v4.channel.k8s.io" {
			t.Errorf("subprotocol %q", ws.Subprotocol())
		}
		out := map[byte]string{}
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				break
			}
			if len(msg) > 0 {
				out[msg[0]] += string(msg[1:])
			}
		}
		if out[1] != "hello\n" || out[2] != "oops\n" {
			t.Errorf("stdout %q stderr %q", out[1], out[2])
		}
		var st struct {
			Status  string
			Reason  string
			Details struct {
				Causes []struct{ Reason, Message string }
			}
		}
		if err := json.Unmarshal([]byte(out[3]), &st); err != nil || st.Reason != "NonZeroExitCode" || st.Details.Causes[0].Message != "3" {
			t.Errorf("error channel %q: %v", out[3], err)
		}
	})

	t.Run("WebSocket v5 is refused before the runtime is asked", func(t *testing.T) {
		_, resp, err := a.dial("/exec/default/box/main?command=true&stdout=1", "v5.channel.k8s.io")
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("v5 handshake: %v %v", err, resp)
		}
	})

	t.Run("port-forward over WebSocket", func(t *testing.T) {
		ws, _, err := a.dial("/portForward/default/web?port=8080", "v4.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		// Channels 0 (data) and 1 (errors) each start with the port.
		for range 2 {
			_, msg, err := ws.ReadMessage()
			if err != nil || len(msg) != 3 || binary.LittleEndian.Uint16(msg[1:]) != 8080 {
				t.Fatalf("port frame %v %v", msg, err)
			}
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, "GET / HTTP/1.0\r\n\r\n"...)); err != nil {
			t.Fatal(err)
		}
		var got string
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		for !strings.Contains(got, "v1") {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			if len(msg) > 0 && msg[0] == 0 {
				got += string(msg[1:])
			}
		}
		if !strings.HasPrefix(got, "HTTP/1.0 200") {
			t.Errorf("response %q", got)
		}
	})

	t.Run("stats", func(t *testing.T) {
		code, body := a.get(t, "/stats/summary")
		var s stats.Summary
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("%d %s", code, body)
		}
		if s.Node.NodeName != "node1" || s.Node.Memory == nil || *s.Node.Memory.WorkingSetBytes == 0 || s.Node.Fs == nil {
			t.Errorf("node %+v", s.Node)
		}
		names := map[string]int{}
		for _, p := range s.Pods {
			names[p.PodRef.Namespace+"/"+p.PodRef.Name+"/"+p.PodRef.UID] = len(p.Containers)
			if p.CPU == nil || p.Memory == nil || *p.Memory.WorkingSetBytes == 0 {
				t.Errorf("pod %s: cpu %+v memory %+v", p.PodRef.Name, p.CPU, p.Memory)
			}
		}
		// Only the running instance of box's container counts.
		if names["default/box/uid-box"] != 1 || names["default/web/uid-web"] != 1 {
			t.Errorf("pods %v", names)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
