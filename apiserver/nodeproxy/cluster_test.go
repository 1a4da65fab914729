package nodeproxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"berth/agent/server"
	"berth/agent/server/servertest"
	"berth/agent/stats"
	"berth/apiserver/nodeproxy"
	"berth/apiserver/registry/core/node"
	"berth/apiserver/registry/core/pod"
	"berth/internal/testnode"
	"berth/internal/testserver"
	"berth/pki"
)

// cluster is an API server with the node proxy wired in, and one node: a
// private containerd and an agent server.
type cluster struct {
	node   *testnode.Node
	api    *testserver.Server
	proxy  *nodeproxy.Proxy
	logs   string
	home   string
	client *http.Client // the API server's admin
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	n := testnode.Start(t)
	s := testserver.Start(t, testserver.Bare)
	tlsDir := filepath.Join(s.Config.DataDir, "tls")
	ca := servertest.LoadCA(t, filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "ca.key"))

	collector, err := stats.New(stats.Config{NodeName: "node1", Runtime: n.Runtime, FsDir: n.Dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := server.New(server.Config{
		Listener: ln,
		TLS: &tls.Config{
			Certificates: []tls.Certificate{ca.Issue(t, pki.Leaf{CommonName: "node1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})},
			ClientCAs:    ca.Pool(),
		},
		Runtime:         n.Runtime,
		Stats:           collector,
		LogPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent server: %v", err)
		}
	})

	proxy, err := nodeproxy.New(nodeproxy.Config{
		ClientCert: ca.Issue(t, pki.Leaf{CommonName: server.APIServerClientCN}),
		RootCAs:    ca.Pool(),
		Nodes: nodeproxy.NodeGetterFunc(func(ctx context.Context, name string) (*corev1.Node, error) {
			return s.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	pods := pod.Resource()
	pods.Extra = append(pods.Extra, pod.Binding())
	pods.Extra = append(pods.Extra, pod.Connect(proxy)...)
	nodes := node.Resource()
	nodes.Extra = append(nodes.Extra, node.Proxy(proxy))
	if err := s.Server.AddResource(pods); err != nil {
		t.Fatal(err)
	}
	if err := s.Server.AddResource(nodes); err != nil {
		t.Fatal(err)
	}

	port := ln.Addr().(*net.TCPAddr).Port
	_, err = s.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node1.invalid"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(s.Rest)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{node: n, api: s, proxy: proxy, logs: filepath.Join(n.Dir, "logs"), home: t.TempDir(), client: &http.Client{Transport: transport}}
}

// createPod stores a pod on node1 (or unscheduled) with the given status
// and returns it.
func (c *cluster) createPod(t *testing.T, name, nodeName string, containers []string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: nodeName}}
	for _, ct := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ct, Image: "busybox"})
	}
	ctx := context.Background()
	created, err := c.api.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = status
	updated, err := c.api.Client.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return updated
}

// running is the status of a running pod whose containers run.
func running(containers ...string) corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "127.0.0.1", PodIP: "10.0.0.2"}
	for _, ct := range containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: ct, Ready: true, Image: "busybox",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
	}
	return st
}

// kubectlPath returns a kubectl binary of a version ("1.27"), or skips.
func kubectlPath(t *testing.T, version string) string {
	t.Helper()
	p := "/usr/lib/google-cloud-sdk/bin/kubectl." + version
	if _, err := os.Stat(p); err != nil {
		t.Skipf("kubectl %s is not installed", version)
	}
	return p
}

// kubectl runs kubectl of a version against the cluster.
func (c *cluster) kubectl(t *testing.T, version, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := c.command(ctx, t, version, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (c *cluster) command(ctx context.Context, t *testing.T, version string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, kubectlPath(t, version), append([]string{"--kubeconfig", c.api.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.home)
	return cmd
}

// background is a kubectl left running, whose output is read as it comes.
type background struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
}

func (c *cluster) start(t *testing.T, version string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := c.command(ctx, t, version, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &background{cmd: cmd, stdin: stdin, lines: make(chan string, 1000), stderr: &syncBuffer{}}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return b
}

// expect waits for a line with the given prefix and returns it.
func (b *background) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				t.Fatalf("kubectl ended before printing %q; stderr: %s", prefix, b.stderr.String())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("kubectl printed no %q within 30s; stderr: %s", prefix, b.stderr.String())
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// ptyKubectl runs kubectl on a pseudo-terminal, as a user at a terminal
// does, and returns the terminal's master side.
func (c *cluster) ptyKubectl(t *testing.T, version string, args ...string) (*os.File, *exec.Cmd) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := c.command(ctx, t, version, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return master, cmd
}

// readUntil reads r until its output contains want.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			all = append(all, buf[:n]...)
			if bytes.Contains(all, []byte(want)) || err != nil {
				got <- string(all)
				return
			}
		}
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, want) {
			t.Fatalf("output %q has no %q", s, want)
		}
		return s
	case <-time.After(30 * time.Second):
		t.Fatalf("no %q within 30s", want)
	}
	return ""
}

// apiDo sends a request to the API server as its administrator.
func (c *cluster) apiDo(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.api.Rest.Host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
