package network

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"berth/internal/testbin"
	"berth/internal/testhosts"
)

// The harness: build berth once per test process, make hosts (network
// namespaces on one LAN) with testhosts, run `berth server` on host 0 and
// `berth agent` on the others as child processes inside the hosts'
// network namespaces, drive the cluster with kubectl run on host 0 and
// with client-go dialling from host 0, and at the end stop the agents and
// the server with SIGINT and check that they left nothing behind.

// Timeouts, generous for a loaded 2-core machine.
const (
	startTimeout   = 120 * time.Second // a daemon until it says it is ready
	stopTimeout    = 60 * time.Second  // SIGINT until exit
	kubectlTimeout = 60 * time.Second  // one kubectl command
	podTimeout     = 120 * time.Second // pods to run, a state to show
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// berthBinary is the berth binary built from the current source, once per
// test process.
func berthBinary(t *testing.T) string { return testbin.Berth(t, true) }

func kubectlBinary() string { return testbin.Kubectl() }

// requirements skips the test where no node can run (not root, no
// containerd or nft) and fails it when a tool the suite needs besides is
// missing.
func requirements(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the network tests run nodes with containers in network namespaces: they need root")
	}
	for _, b := range []string{"containerd", "nft"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("the network tests need %s: %v", b, err)
		}
	}
	for _, b := range []string{"runc", "ip", "nsenter", kubectlBinary()} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("the network tests need %s (./hack/deps.sh installs the runtime): %v", b, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is a berth server or agent running in a host's namespace.
type daemon struct {
	name    string // "server on h0", "agent net-…-1 on h1"
	host    *testhosts.Host
	dataDir string
	node    string // agents: the node's name
	args    []string
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	err     error // valid once exited is closed
	stopped bool  // stop was called
}

func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGINT and waits for the exit; it returns an error unless
// the daemon exits with status 0 within stopTimeout (it is killed then).
func (d *daemon) stop() (time.Duration, error) {
	if d.cmd == nil || d.stopped {
		return 0, nil
	}
	d.stopped = true
	if !d.running() {
		return 0, fmt.Errorf("%s had exited by itself: %v", d.name, d.err)
	}
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return 0, err
	}
	select {
	case <-d.exited:
		if d.err != nil {
			return time.Since(start), fmt.Errorf("%s exited with %v after SIGINT, want status 0", d.name, d.err)
		}
		return time.Since(start), nil
	case <-time.After(stopTimeout):
		d.cmd.Process.Kill()
		<-d.exited
		return time.Since(start), fmt.Errorf("%s still running %v after SIGINT (killed it)", d.name, stopTimeout)
	}
}

// output is the daemon's output for a failure report, without the
// ingress controller's access log lines (counted instead).
func (d *daemon) output() string {
	var b strings.Builder
	access := 0
	for _, line := range strings.SplitAfter(d.out.String(), "\n") {
		if strings.Contains(line, "component=ingress") && strings.Contains(line, "msg=request") {
			access++
			continue
		}
		b.WriteString(line)
	}
	return fmt.Sprintf("---- %s (%s; %d ingress access log lines left out) ----\n%s---- end of %s ----",
		d.name, strings.Join(d.args, " "), access, b.String(), d.name)
}

// cluster is a berth server on hosts[0] and an agent on each other host.
type cluster struct {
	t          *testing.T
	hosts      []*testhosts.Host
	server     *daemon
	agents     []*daemon
	nodes      []string // the agents' node names, in host order
	apiURL     string   // https://ADDR of the API server
	kubeconfig string
	kubeHome   string // HOME of kubectl (its cache)
	client     kubernetes.Interface
}

// clusterOptions shape a cluster.
type clusterOptions struct {
	agents int    // nodes (hosts 1…agents)
	mode   string // --network-mode of the agents ("": their default)
	routed bool   // testhosts.Options.Routed
}

// startCluster makes the hosts, runs the server and the agents and waits
// until every node is Ready with a pod CIDR of its own. Everything is
// stopped and checked for leftovers when the test ends.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	requirements(t)
	bin := berthBinary(t)
	hosts := testhosts.New(t, 1+o.agents, testhosts.Options{Routed: o.routed})
	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	kubeHome, err := os.MkdirTemp("", "bnk")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, hosts: hosts, kubeHome: kubeHome}
	// Registered after testhosts.New: runs before the namespaces go.
	t.Cleanup(c.cleanup)

	c.server = &daemon{name: "server on " + hosts[0].Name, host: hosts[0], dataDir: tempDir(t, "bn")}
	c.server.args = []string{bin, "server", "--data-dir", c.server.dataDir, "--port", "0", "--bind-address", "0.0.0.0"}
	serverReady := regexp.MustCompile(`(?s)berth server is ready at https://(\S+)\s.*export KUBECONFIG=(\S+)`)
	took, err := c.server.start(serverReady)
	if err != nil {
		t.Fatal(err)
	}
	m := serverReady.FindStringSubmatch(c.server.out.String())
	t.Logf("%s is ready at %s in %v", c.server.name, m[1], took.Round(time.Millisecond))
	c.kubeconfig = m[2]
	// The server names a local address; the nodes reach it at host 0's.
	ap, err := netip.ParseAddrPort(m[1])
	if err != nil {
		t.Fatalf("the server's address %q: %v", m[1], err)
	}
	c.apiURL = "https://" + netip.AddrPortFrom(hosts[0].IP, ap.Port()).String()
	c.client = c.newClient(t)

	token := strings.TrimSpace(c.run(t, hosts[0], bin, "token", "create", "--data-dir", c.server.dataDir))
	for i, h := range hosts[1:] {
		node := fmt.Sprintf("net-%s-%d", suffix, i+1)
		a := &daemon{name: "agent " + node + " on " + h.Name, host: h, dataDir: tempDir(t, "bn"), node: node}
		a.args = []string{bin, "agent", "--server", c.apiURL, "--token", token, "--data-dir", a.dataDir,
			"--node-name", node, "--address", ":0", "--stop-pods-on-exit"}
		if o.mode != "" {
			a.args = append(a.args, "--network-mode", o.mode)
		}
		c.agents = append(c.agents, a)
		c.nodes = append(c.nodes, node)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.agents))
	for i, a := range c.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var took time.Duration
			took, errs[i] = a.start(regexp.MustCompile(`agent ready: node ` + regexp.QuoteMeta(a.node) + ` `))
			if errs[i] == nil {
				t.Logf("%s is ready in %v", a.name, took.Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitNodesReady(t)
	return c
}

// start runs the daemon in its host and waits until its output matches
// ready.
func (d *daemon) start(ready *regexp.Regexp) (time.Duration, error) {
	d.out, d.exited = &syncBuffer{}, make(chan struct{})
	d.cmd = d.host.Exec(d.args[0], d.args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", d.name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	start := time.Now()
	for {
		if ready.MatchString(d.out.String()) {
			return time.Since(start), nil
		}
		if !d.running() {
			return 0, fmt.Errorf("%s exited before it was ready: %v\n%s", d.name, d.err, d.output())
		}
		if time.Since(start) > startTimeout {
			return 0, fmt.Errorf("%s not ready within %v\n%s", d.name, startTimeout, d.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tempDir is a short directory (unix sockets live below data dirs)
// removed by the cluster's cleanup.
func tempDir(t *testing.T, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newClient is a client-go clientset with the admin kubeconfig whose
// connections are made inside host 0.
func (c *cluster) newClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	cfg.Dial = c.hosts[0].DialContext
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitNodesReady waits for every agent's Node to be Ready with a pod CIDR,
// and checks the CIDRs are distinct /24s of the cluster CIDR.
func (c *cluster) waitNodesReady(t *testing.T) {
	t.Helper()
	clusterCIDR := netip.MustParsePrefix("10.42.0.0/16")
	cidrs := map[string]string{}
	waitFor(t, podTimeout, "nodes Ready with a pod CIDR", func() (bool, string) {
		var state []string
		done := true
		for _, n := range c.nodes {
			node, err := c.client.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				state = append(state, err.Error())
				done = false
				continue
			}
			ready := false
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			cidrs[n] = node.Spec.PodCIDR
			state = append(state, fmt.Sprintf("%s: ready=%v podCIDR=%q", n, ready, node.Spec.PodCIDR))
			done = done && ready && node.Spec.PodCIDR != ""
		}
		return done, strings.Join(state, "\n")
	})
	seen := map[netip.Prefix]string{}
	for _, n := range c.nodes {
		p, err := netip.ParsePrefix(cidrs[n])
		switch {
		case err != nil:
			t.Errorf("node %s: pod CIDR %q: %v", n, cidrs[n], err)
		case p.Bits() != 24 || !clusterCIDR.Contains(p.Addr()):
			t.Errorf("node %s: pod CIDR %s, want a /24 of the cluster CIDR %s", n, p, clusterCIDR)
		case seen[p] != "":
			t.Errorf("nodes %s and %s share the pod CIDR %s", seen[p], n, p)
		default:
			seen[p] = n
		}
	}
	t.Logf("nodes Ready: %v", cidrs)
}

// podCIDR is a node's spec.podCIDR.
func (c *cluster) podCIDR(t *testing.T, node string) netip.Prefix {
	t.Helper()
	n, err := c.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return netip.MustParsePrefix(n.Spec.PodCIDR)
}

// ---- waiting ----

// waitFor polls cond until it reports done, failing the test after
// timeout with the last state cond described.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	start := time.Now()
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v; last state:\n%s", what, timeout, state)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// podReady reports whether a pod is Running and Ready.
func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPods waits until the pods matching selector in ns are exactly n,
// all Running and Ready, and returns them sorted by name.
func (c *cluster) waitPods(t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, podTimeout, fmt.Sprintf("%d ready pods %q in %s", n, selector, ns), func() (bool, string) {
		list, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		var state []string
		ready := 0
		for i := range pods {
			p := &pods[i]
			if podReady(p) {
				ready++
			}
			state = append(state, fmt.Sprintf("%s on %s: phase=%s ready=%v ip=%s deleting=%v %s", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(p), p.Status.PodIP, p.DeletionTimestamp != nil, waitingReasons(p)))
		}
		return ready == n && len(pods) == n, strings.Join(state, "\n")
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// waitingReasons describes containers that are not running.
func waitingReasons(p *corev1.Pod) string {
	var out []string
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			out = append(out, fmt.Sprintf("%s waiting: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
		}
		if s.State.Terminated != nil {
			out = append(out, fmt.Sprintf("%s terminated: %s exit %d", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode))
		}
	}
	return strings.Join(out, "; ")
}

// pod reads a pod.
func (c *cluster) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
