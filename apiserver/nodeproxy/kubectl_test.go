package nodeproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/agent/server/servertest"
	"berth/agent/stats"
)

// Real kubectl of the oldest and newest versions berth supports, through
// the API server and the agent to containerd: logs, exec, attach,
// port-forward, cp and the stats summary.
func TestKubectl(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	box := c.createPod(t, "box", "node1", []string{"main"}, running("main"))
	multi := c.createPod(t, "multi", "node1", []string{"a", "b"}, running("a", "b"))
	web := c.createPod(t, "web", "node1", []string{"app"}, running("app"))
	c.createPod(t, "pending", "", []string{"c"}, corev1.PodStatus{Phase: corev1.PodPending})
	c.createPod(t, "creating", "node1", []string{"c"}, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "c", Image: "busybox", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}})

	run := func(p *corev1.Pod) *servertest.Pod {
		return servertest.RunPod(t, c.node.Runtime, c.node.Images, c.logs, servertest.Sandbox{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)})
	}
	boxPod := run(box)
	first := boxPod.Start(t, servertest.Container{Name: "main", Args: []string{"sh", "-c", "echo first run; exit 1"}})
	boxPod.WaitExited(t, first)
	boxPod.Start(t, servertest.Container{Name: "main", Attempt: 1, Args: []string{"sh", "-c",
		"echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"}})
	multiPod := run(multi)
	multiPod.Start(t, servertest.Container{Name: "a", Args: []string{"sh", "-c", "while true; do sleep 1; done"}})
	multiPod.Start(t, servertest.Container{Name: "b", Stdin: true, Args: []string{"sh", "-c", `while read l; do echo "got $l"; done`}})
	run(web).Start(t, servertest.Container{Name: "app", Image: "berth/demo:v1"})

	// Wait until box has logged for two seconds (for --since).
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := c.kubectl(t, "1.33", "", "logs", "box")
		if strings.Contains(out, "tick 10\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("box logs %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, v := range []string{"1.27", "1.33"} {
		t.Run("kubectl "+v, func(t *testing.T) {
			kubectlPath(t, v)
			testLogs(t, c, v)
			testExec(t, c, v)
			testAttach(t, c, v)
			testPortForward(t, c, v)
			testCopy(t, c, v)
			testStatsSummary(t, c, v)
		})
	}

	t.Run("exec in every kubectl version", func(t *testing.T) {
		for _, v := range []string{"1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"} {
			out, errOut, err := c.kubectl(t, v, "piped\n", "exec", "-i", "box", "--", "sh", "-c", "cat; echo done")
			if err != nil || out != "piped\ndone\n" {
				t.Errorf("kubectl %s exec -i: %q %q %v", v, out, errOut, err)
			}
		}
	})

	t.Run("port-forward in every kubectl version", func(t *testing.T) {
		for _, v := range []string{"1.27", "1.29", "1.30", "1.31", "1.32", "1.33"} {
			forwardOnce(t, c, v)
		}
	})

	t.Run("errors", func(t *testing.T) { testErrors(t, c) })
	_ = ctx
}

func testLogs(t *testing.T, c *cluster, v string) {
	out, errOut, err := c.kubectl(t, v, "", "logs", "box")
	if err != nil || !strings.HasPrefix(out, "out1\nerr1\nout2\ntick 1\ntick 2\n") {
		t.Errorf("logs: %q %q %v", out, errOut, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "-c", "main", "--tail=1"); err != nil || !regexp.MustCompile(`^tick \d+\n$`).MatchString(out) {
		t.Errorf("logs --tail=1: %q %v", out, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "--tail=2", "--timestamps"); err != nil ||
		!regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n){2}$`).MatchString(out) {
		t.Errorf("logs --timestamps: %q %v", out, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "--since=1h"); err != nil || !strings.HasPrefix(out, "out1\n") {
		t.Errorf("logs --since=1h: %q %v", out, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "--since=1s"); err != nil || strings.Contains(out, "out1") || !strings.HasPrefix(out, "tick ") {
		t.Errorf("logs --since=1s: %q %v", out, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "--limit-bytes=7"); err != nil || out != "out1\ner" {
		t.Errorf("logs --limit-bytes=7: %q %v", out, err)
	}
	if out, _, err := c.kubectl(t, v, "", "logs", "box", "--previous"); err != nil || out != "first run\n" {
		t.Errorf("logs --previous: %q %v", out, err)
	}
	if _, errOut, err := c.kubectl(t, v, "", "logs", "creating"); err == nil ||
		!strings.Contains(errOut, `Error from server (BadRequest): container "c" in pod "creating" is waiting to start: ContainerCreating`) {
		t.Errorf("logs of a creating pod: %q %v", errOut, err)
	}
	if out, errOut, err := c.kubectl(t, v, "", "logs", "multi", "-c", "a"); err != nil || out != "" {
		t.Errorf("logs -c a (which prints nothing): %q %q %v", out, errOut, err)
	}

	// -f shows new lines as they come.
	f := c.start(t, v, "logs", "-f", "--tail=1", "box")
	var n0, n1 int
	fmt.Sscanf(f.expect(t, "tick "), "tick %d", &n0)
	for n1 <= n0+2 {
		fmt.Sscanf(f.expect(t, "tick "), "tick %d", &n1)
	}
	f.cmd.Process.Kill()
}

func testExec(t *testing.T, c *cluster, v string) {
	out, errOut, err := c.kubectl(t, v, "", "exec", "-v=4", "box", "--", "echo", "hi")
	if err != nil || out != "hi\n" {
		t.Errorf("exec echo: %q %q %v", out, errOut, err)
	}
	// kubectl 1.30+ tries WebSocket v5 first, which the runtime does not
	// speak: the agent refuses the upgrade and kubectl falls back to SPDY.
	if v >= "1.30" && !strings.Contains(errOut, "RemoteCommand fallback") {
		t.Errorf("kubectl %s exec did not fall back from WebSocket: %s", v, errOut)
	}
	if out, errOut, err := c.kubectl(t, v, "hello\nworld\n", "exec", "-i", "box", "-c", "main", "--", "cat"); err != nil || out != "hello\nworld\n" {
		t.Errorf("exec -i cat: %q %q %v", out, errOut, err)
	}
	out, errOut, err = c.kubectl(t, v, "", "exec", "box", "--", "sh", "-c", "echo to stdout; echo to stderr >&2; exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || out != "to stdout\n" || !strings.Contains(errOut, "to stderr\n") ||
		!strings.Contains(errOut, "command terminated with exit code 3") {
		t.Errorf("exec exit 3: %q %q %v", out, errOut, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "pending", "--", "ls"}, "Error from server (BadRequest): pod pending does not have a host assigned\n"},
		{[]string{"exec", "box", "-c", "nope", "--", "ls"}, "Error from server (BadRequest): container nope is not valid for pod box\n"},
		{[]string{"exec", "creating", "--", "ls"}, "error: unable to upgrade connection: container not found (\"c\")\n"},
	} {
		if _, errOut, err := c.kubectl(t, v, "", tc.args...); err == nil || errOut != tc.want {
			t.Errorf("kubectl %v: %q %v, want %q", tc.args, errOut, err, tc.want)
		}
	}
	// A shell on a terminal.
	term, cmd := c.ptyKubectl(t, v, "exec", "-it", "box", "--", "sh")
	time.Sleep(200 * time.Millisecond) // let the shell start before typing
	io.WriteString(term, "echo $((6*7))\r")
	readUntil(t, term, "42")
	io.WriteString(term, "exit\r")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exec -it ended with %v", err)
	}
}

func testAttach(t *testing.T, c *cluster, v string) {
	a := c.start(t, v, "attach", "-i", "multi", "-c", "b")
	deadline := time.Now().Add(30 * time.Second)
	got := make(chan string, 1)
	go func() { got <- a.expect(t, "got ping") }()
	// The first lines may be typed before the attach is established.
	for done := false; !done; {
		io.WriteString(a.stdin, "ping\n")
		select {
		case <-got:
			done = true
		case <-time.After(500 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("attach -i: no answer; stderr %s", a.stderr.String())
			}
		}
	}
	a.cmd.Process.Kill()

	b := c.start(t, v, "attach", "box")
	b.expect(t, "tick ")
	b.cmd.Process.Kill()
}

func testPortForward(t *testing.T, c *cluster, v string) {
	pf := forwardOnce(t, c, v)
	if v >= "1.31" && !strings.Contains(pf, "negotiated protocol: portforward.k8s.io") {
		t.Errorf("kubectl %s did not port-forward over a WebSocket tunnel: %s", v, pf)
	}
}

// forwardOnce port-forwards to the demo app and fetches its page; it
// returns kubectl's log.
func forwardOnce(t *testing.T, c *cluster, v string) string {
	t.Helper()
	pf := c.start(t, v, "port-forward", "-v=4", "pod/web", ":8080")
	line := pf.expect(t, "Forwarding from 127.0.0.1:")
	var port int
	if _, err := fmt.Sscanf(line, "Forwarding from 127.0.0.1:%d -> 8080", &port); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	for i := range 2 { // two connections over one forward
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("kubectl %s port-forward, request %d: %v; kubectl: %s", v, i, err, pf.stderr.String())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "v1") {
			t.Errorf("kubectl %s port-forward: %d %q", v, resp.StatusCode, body)
		}
	}
	pf.cmd.Process.Kill()
	return pf.stderr.String()
}

func testCopy(t *testing.T, c *cluster, v string) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.txt")
	content := strings.Repeat("berth copies files\n", 1000)
	os.WriteFile(src, []byte(content), 0o644)
	remote := "/tmp/copied-" + v + ".txt"
	if out, errOut, err := c.kubectl(t, v, "", "cp", src, "default/box:"+remote, "-c", "main"); err != nil {
		t.Fatalf("cp to the pod: %q %q %v", out, errOut, err)
	}
	if out, _, err := c.kubectl(t, v, "", "exec", "box", "--", "wc", "-c", remote); err != nil || strings.Fields(out)[0] != fmt.Sprint(len(content)) {
		t.Errorf("copied file: %q %v", out, err)
	}
	back := filepath.Join(dir, "back.txt")
	if out, errOut, err := c.kubectl(t, v, "", "cp", "default/box:"+remote, back, "-c", "main"); err != nil {
		t.Fatalf("cp from the pod: %q %q %v", out, errOut, err)
	}
	if b, err := os.ReadFile(back); err != nil || string(b) != content {
		t.Errorf("copied back %d bytes: %v", len(b), err)
	}
}

func testStatsSummary(t *testing.T, c *cluster, v string) {
	out, errOut, err := c.kubectl(t, v, "", "get", "--raw", "/api/v1/nodes/node1/proxy?path=/stats/summary")
	var s stats.Summary
	if err != nil || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("stats summary: %q %q %v", out, errOut, err)
	}
	pods := map[string]int{}
	for _, p := range s.Pods {
		pods[p.PodRef.Name] = len(p.Containers)
	}
	if s.Node.NodeName != "node1" || pods["box"] != 1 || pods["multi"] != 2 || pods["web"] != 1 {
		t.Errorf("summary of %s with pods %v", s.Node.NodeName, pods)
	}
}

// The API server's answers to bad requests, as Kubernetes gives them.
func testErrors(t *testing.T, c *cluster) {
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/api/v1/namespaces/default/pods/multi/log", 400, "a container name must be specified for pod multi, choose one of: [a b]"},
		{"GET", "/api/v1/namespaces/default/pods/box/log?container=nope", 400, "container nope is not valid for pod box"},
		{"GET", "/api/v1/namespaces/default/pods/box/log?tailLines=-1", 422, `PodLogOptions \"box\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{"GET", "/api/v1/namespaces/default/pods/creating/log", 400, `container \"c\" in pod \"creating\" is waiting to start: ContainerCreating`},
		{"GET", "/api/v1/namespaces/default/pods/creating/log?previous=true", 400, `previous terminated container \"c\" in pod \"creating\" not found`},
		{"GET", "/api/v1/namespaces/default/pods/pending/log", 200, ""},
		{"GET", "/api/v1/namespaces/default/pods/nope/log", 404, `pods \"nope\" not found`},
		{"POST", "/api/v1/namespaces/default/pods/pending/exec?command=ls&stdout=true", 400, "pod pending does not have a host assigned"},
		{"POST", "/api/v1/namespaces/default/pods/pending/portforward?ports=80", 400, "pod pending does not have a host assigned"},
		{"POST", "/api/v1/namespaces/default/pods/multi/exec?command=ls&stdout=true", 400, "a container name must be specified for pod multi, choose one of: [a b]"},
		{"POST", "/api/v1/namespaces/default/pods/box/exec?command=ls&stdout=true&container=x", 400, "container x is not valid for pod box"},
		{"POST", "/api/v1/namespaces/default/pods/box/exec?command=ls&stdout=true", 400, "Upgrade request required"},
		{"POST", "/api/v1/namespaces/default/pods/box/attach?stdout=true", 400, "Upgrade request required"},
		{"GET", "/api/v1/nodes/node1/proxy?path=/healthz", 200, "ok"},
		{"GET", "/api/v1/nodes/nope/proxy?path=/healthz", 404, `nodes \"nope\" not found`},
	}
	for _, tc := range tests {
		code, body := c.apiDo(t, tc.method, tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) || (tc.body == "" && body != "") {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}

	// nodes/proxy/PATH: the API server's router does not yet hand paths
	// below a subresource to it, so call the proxy directly.
	node, err := c.api.Client.CoreV1().Nodes().Get(context.Background(), "node1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.proxy.Node(r.Context(), node, w, r); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/nodes/node1/proxy/stats/summary?only_cpu_and_memory=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s stats.Summary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.Node.NodeName != "node1" || s.Node.Fs != nil {
		t.Errorf("nodes/node1/proxy/stats/summary: %d %v %+v", resp.StatusCode, err, s.Node)
	}
}
