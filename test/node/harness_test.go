package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"berth/internal/leftovers"
	"berth/internal/testbin"
)

// The harness: build berth once, run `berth up` as a child process per
// cluster (own data dir, bridge, pod CIDR and node name), drive it with
// kubectl, and at the end stop it with SIGINT and check that it left
// nothing behind.

// Timeouts, generous for a loaded 2-core machine.
const (
	upTimeout      = 120 * time.Second // berth up until "berth is up"
	stopTimeout    = 60 * time.Second  // SIGINT until exit, in cleanup
	kubectlTimeout = 60 * time.Second  // one kubectl command
	podTimeout     = 120 * time.Second // a pod to run, an expected state to show
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

// requirements skips the test where a node cannot run: not root, or no
// containerd, runc or kubectl.
func requirements(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the node tests run containers: they need root")
	}
	for _, b := range []string{"containerd", "runc", "ip", kubectlBinary()} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("the node tests need %s: %v", b, err)
		}
	}
}

// clusterSlots bounds how many clusters run at once.
var clusterSlots = func() chan struct{} {
	n := 3
	if v, err := strconv.Atoi(os.Getenv("BERTH_NODE_CLUSTERS")); err == nil && v > 0 {
		n = v
	}
	return make(chan struct{}, n)
}()

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

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// cluster is one `berth up` and everything it owns. Several runs of berth
// (restarts) share the data dir and node.
type cluster struct {
	t          *testing.T // the test owning the cluster
	bin        string
	dataDir    string // short: unix sockets live below it
	node       string
	bridge     string
	podCIDR    string
	cidrPrefix string // "10.A.B." of the pod CIDR
	kubeconfig string
	kubeHome   string // HOME and cache of kubectl
	out        *syncBuffer
	proc       *process // the current (or last) run
	keepPods   bool     // whether the current run has --keep-pods
	server     bool     // `berth server` rather than `berth up`
	runs       int
}

// process is one run of `berth up`.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error  // valid once exited is closed
	apiAddr string // host:port of the API server
	start   time.Time
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

type options struct {
	keepPods bool
	server   bool
}

// option changes how startUp runs berth.
type option func(*options)

// withKeepPods runs berth up with --keep-pods.
func withKeepPods() option { return func(o *options) { o.keepPods = true } }

// serverOnly runs `berth server` instead of `berth up`: a control plane
// without a node. The cluster's node, bridge and pod CIDR are then those a
// test gives the agent it joins (see TestJoin), so that the leak checks
// cover that node.
func serverOnly() option { return func(o *options) { o.server = true } }

// cidrBase spreads the pod CIDRs of this process away from those of other
// test processes; cidrNext makes each cluster's unique within it.
var (
	cidrBase = rand.IntN(100)
	cidrMu   sync.Mutex
	cidrNext int
)

func nextCIDR() (cidr, prefix string) {
	cidrMu.Lock()
	defer cidrMu.Unlock()
	cidrNext++
	a := 100 + (cidrBase+cidrNext)%100
	b := rand.IntN(256)
	return fmt.Sprintf("10.%d.%d.0/24", a, b), fmt.Sprintf("10.%d.%d.", a, b)
}

// startUp runs a new single-node cluster for the test and waits until its
// node is Ready. At the end of the test the cluster is stopped (SIGINT) and
// checked for leftovers (see cleanup).
func startUp(t *testing.T, opts ...option) *cluster {
	t.Helper()
	requirements(t)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := berthBinary(t)
	select {
	case clusterSlots <- struct{}{}:
	case <-time.After(15 * time.Minute):
		t.Fatal("no cluster slot within 15m")
	}
	dataDir, err := os.MkdirTemp("", "bn")
	if err != nil {
		<-clusterSlots
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	cidr, prefix := nextCIDR()
	c := &cluster{
		t: t, bin: bin, dataDir: dataDir,
		node:    "bn-" + suffix,
		bridge:  "bn" + suffix, // 8 characters: a device name has at most 15
		podCIDR: cidr, cidrPrefix: prefix,
		kubeconfig: filepath.Join(dataDir, "admin.kubeconfig"),
		kubeHome:   filepath.Join(dataDir, "kubectl"),
		out:        &syncBuffer{},
		server:     o.server,
	}
	if err := os.MkdirAll(c.kubeHome, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer func() { <-clusterSlots }()
		c.cleanup()
	})
	c.start(t, o.keepPods)
	c.checkBuiltinImages(t)
	return c
}

// start runs berth up on the cluster's data dir and waits for "berth is up".
func (c *cluster) start(t *testing.T, keepPods bool) {
	t.Helper()
	if c.proc != nil && c.proc.running() {
		t.Fatal("start: berth is still running")
	}
	c.runs++
	args := []string{"up",
		"--data-dir", c.dataDir,
		"--port", "0",
		"--bind-address", "127.0.0.1",
		"--agent-address", ":0",
		"--bridge", c.bridge,
		"--pod-cidr", c.podCIDR,
		"--node-name", c.node,
		// Clusters side by side on one host: networks of their own, and
		// no ingress on the host's ports 80 and 443.
		"--cluster-cidr", c.clusterCIDR(),
		"--service-cidr", c.serviceCIDR(),
		"--ingress-http-port", "0", "--ingress-https-port", "0",
	}
	if keepPods {
		args = append(args, "--keep-pods")
	}
	upLine := regexp.MustCompile(`berth is up \(.*\): node \S+ is running, API server at https://(\S+)`)
	if c.server {
		args = []string{"server", "--data-dir", c.dataDir, "--port", "0", "--bind-address", "127.0.0.1",
			"--cluster-cidr", c.clusterCIDR(), "--service-cidr", c.serviceCIDR()}
		upLine = regexp.MustCompile(`berth server is ready at https://(\S+)`)
	}
	fmt.Fprintf(c.out, "==== run %d: berth %s\n", c.runs, strings.Join(args, " "))
	offset := c.out.Len()
	p := &process{cmd: exec.Command(c.bin, args...), exited: make(chan struct{}), start: time.Now()}
	p.cmd.Stdout, p.cmd.Stderr = c.out, c.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start berth up: %v", err)
	}
	c.proc, c.keepPods = p, keepPods
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(upTimeout)
	for {
		out := c.out.String()[offset:]
		if m := upLine.FindStringSubmatch(out); m != nil && strings.Contains(out, "export KUBECONFIG=") {
			p.apiAddr = m[1]
			if k := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(out); k != nil {
				c.kubeconfig = k[1]
			}
			break
		}
		if !p.running() {
			t.Fatalf("berth up exited before it was up: %v\n%s", p.err, c.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth up printed no \"berth is up\" within %v\n%s", upTimeout, c.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("berth %s (run %d, node %s, data %s, bridge %s, pods %s) is up in %v",
		args[0], c.runs, c.node, c.dataDir, c.bridge, c.podCIDR, time.Since(p.start).Round(time.Millisecond))
}

// clusterCIDR is the /16 of the cluster's pod CIDR (10.A.B.0/24).
func (c *cluster) clusterCIDR() string {
	a := strings.Split(c.cidrPrefix, ".")[1]
	return "10." + a + ".0.0/16"
}

// serviceCIDR is the cluster's own service network (ClusterIPs of
// clusters on one host must differ: their proxies share the host's
// nftables hooks).
func (c *cluster) serviceCIDR() string {
	a, _ := strconv.Atoi(strings.Split(c.cidrPrefix, ".")[1])
	return fmt.Sprintf("10.%d.0.0/16", a-95)
}

// checkBuiltinImages fails with advice when the registry lacks the built-in
// images (a binary built without ./hack/build.sh).
func (c *cluster) checkBuiltinImages(t *testing.T) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(c.dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatalf("cluster CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in DATA_DIR/tls/ca.crt")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+c.proc.apiAddr+"/v2/berth/demo/manifests/v1", nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		last = resp.Status
	}
	t.Fatalf("the cluster registry has no berth/demo:v1 (%s): the berth binary lacks its built-in images; run ./hack/build.sh\n%s", last, c.output())
}

// output is berth's output so far, for failure messages.
func (c *cluster) output() string {
	return "---- berth output (" + c.dataDir + ") ----\n" + c.out.String() + "---- end of berth output ----"
}

// signalStop sends SIGINT to berth and waits up to timeout for it to exit;
// it returns the exit error (nil for status 0) and how long it took.
func (c *cluster) signalStop(timeout time.Duration) (err error, took time.Duration, exited bool) {
	p := c.proc
	if !p.running() {
		return p.err, 0, true
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err, 0, false
	}
	select {
	case <-p.exited:
		return p.err, time.Since(start), true
	case <-time.After(timeout):
		return nil, time.Since(start), false
	}
}

// stop sends SIGINT and asserts that berth exits with status 0 within
// timeout.
func (c *cluster) stop(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	if !c.proc.running() {
		t.Fatalf("berth had already exited: %v\n%s", c.proc.err, c.output())
	}
	err, took, exited := c.signalStop(timeout)
	if !exited {
		c.proc.cmd.Process.Kill()
		<-c.proc.exited
		t.Fatalf("berth still running %v after SIGINT (killed it)\n%s", timeout, c.output())
	}
	if err != nil {
		t.Fatalf("berth exited with %v after SIGINT, want status 0\n%s", err, c.output())
	}
	t.Logf("berth stopped cleanly in %v after SIGINT", took.Round(time.Millisecond))
	return took
}

// kill9 kills berth itself (not its containerd) with SIGKILL.
func (c *cluster) kill9(t *testing.T) {
	t.Helper()
	if !c.proc.running() {
		t.Fatalf("berth had already exited: %v\n%s", c.proc.err, c.output())
	}
	if err := c.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.proc.exited
	fmt.Fprintf(c.out, "==== run %d killed with SIGKILL\n", c.runs)
}

// cleanup ends the cluster: SIGINT (unless the test stopped it already),
// then the leak checks, then forced removal of whatever is left, the
// bridge and the data dir. berth's output is printed if the test failed.
func (c *cluster) cleanup() {
	t := c.t
	defer func() {
		if t.Failed() || os.Getenv("BERTH_NODE_VERBOSE") != "" {
			t.Log(c.output())
		}
	}()
	if c.proc != nil && c.proc.running() {
		err, took, exited := c.signalStop(stopTimeout)
		switch {
		case !exited:
			t.Errorf("berth still running %v after SIGINT; killing it", stopTimeout)
			c.proc.cmd.Process.Kill()
			<-c.proc.exited
		case err != nil:
			t.Errorf("berth exited with %v after SIGINT, want status 0", err)
		default:
			t.Logf("cleanup: berth stopped in %v", took.Round(time.Millisecond))
		}
	} else if c.proc != nil && c.proc.err != nil && !c.keepPods {
		t.Logf("cleanup: berth had exited: %v", c.proc.err)
	}
	leaks := c.leaks(10 * time.Second)
	if len(leaks) > 0 {
		if c.keepPods {
			// The last run kept its pods on purpose: remove them, but
			// this is no leak of berth's.
			t.Logf("cleanup: the last run had --keep-pods; removing what it left:\n%s", strings.Join(leaks, "\n"))
		} else {
			t.Errorf("berth left these behind after SIGINT:\n%s", strings.Join(leaks, "\n"))
		}
		c.forceCleanup()
		if again := c.leaks(5 * time.Second); len(again) > 0 {
			t.Errorf("could not remove berth's leftovers:\n%s", strings.Join(again, "\n"))
		}
	}
	if out, err := exec.Command("ip", "link", "delete", c.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
		t.Errorf("ip link delete %s: %v: %s", c.bridge, err, out)
	}
	if err := os.RemoveAll(c.dataDir); err != nil {
		t.Errorf("remove data dir: %v", err)
	}
}

// owned names what the cluster's node may leave on the machine.
func (c *cluster) owned() leftovers.Of {
	return leftovers.Of{Dirs: []string{c.dataDir}, Nodes: []string{c.node}}
}

// leaks lists what the cluster left behind: processes mentioning its data
// dir, mounts below it, pod cgroups under /berth/NODE, iptables NAT rules
// of its pod network and its nftables tables. It waits up to settle for
// them to go away (shims exit a moment after containerd).
func (c *cluster) leaks(settle time.Duration) []string {
	return c.owned().Wait(settle, func() []string {
		var found []string
		for _, r := range c.natRules() {
			found = append(found, "iptables -t nat: "+r)
		}
		for _, tbl := range c.nftTables() {
			found = append(found, "nftables table: "+tbl)
		}
		return found
	})
}

// nftTables are the node's nftables tables: its service proxy's
// ("berth-BRIDGE") and its masquerade ("berth-nat-BRIDGE").
func (c *cluster) nftTables() []string {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil
	}
	var tables []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && (f[2] == "berth-"+c.bridge || f[2] == "berth-nat-"+c.bridge) {
			tables = append(tables, f[1]+" "+f[2])
		}
	}
	return tables
}

// natRules are the iptables NAT rules naming the pod network (CNI's
// masquerade rules of pod sandboxes).
func (c *cluster) natRules() []string {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	out, err := exec.Command("iptables", "-w", "5", "-t", "nat", "-S").Output()
	if err != nil {
		return nil
	}
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, " "+c.cidrPrefix) {
			rules = append(rules, line)
		}
	}
	return rules
}

// forceCleanup removes what a cluster left: its processes, mounts and
// cgroups (leftovers.Of.Remove), its NAT rules and nftables tables.
func (c *cluster) forceCleanup() {
	c.owned().Remove()
	for _, r := range c.natRules() {
		if strings.HasPrefix(r, "-A ") {
			args := append([]string{"-w", "5", "-t", "nat", "-D"}, splitRule(strings.TrimPrefix(r, "-A "))...)
			exec.Command("iptables", args...).Run()
		}
	}
	for _, tbl := range c.nftTables() {
		exec.Command("nft", append([]string{"delete", "table"}, strings.Fields(tbl)...)...).Run()
	}
}

// splitRule splits an iptables -S rule into arguments, honouring quotes.
func splitRule(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, escaped, have := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have || cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
		}
	}
	if have || cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}

// ---- kubectl ----

// kubectlResult is the outcome of one kubectl command.
type kubectlResult struct {
	args           []string
	stdout, stderr string
	code           int // exit status; -1 if it could not run or timed out
	err            error
}

func (r kubectlResult) String() string {
	return fmt.Sprintf("kubectl %s: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.err, r.stdout, r.stderr)
}

// kubectlCmd is a kubectl command with the cluster's kubeconfig (through
// KUBECONFIG, so that no command line names the data dir) and a HOME of
// its own.
func (c *cluster) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, kubectlBinary(), args...)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "HOME" || strings.HasPrefix(name, "KUBECTL_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "KUBECONFIG="+c.kubeconfig, "HOME="+c.kubeHome)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs kubectl with stdin (may be nil) and returns its result.
func (c *cluster) run(stdin io.Reader, args ...string) kubectlResult {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := c.kubectlCmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	r := kubectlResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.code, r.err = -1, fmt.Errorf("timed out after %v: %w", kubectlTimeout, err)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		r.code = -1
	}
	return r
}

// kubectl runs kubectl, fails the test with its output unless it
// succeeds, and returns its stdout.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(nil, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r.stdout
}

// kubectlIn is kubectl with stdin.
func (c *cluster) kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := c.run(strings.NewReader(stdin), args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r.stdout
}

// apply applies YAML manifests to a namespace.
func (c *cluster) apply(t *testing.T, ns, manifest string) {
	t.Helper()
	c.kubectlIn(t, manifest, "apply", "-n", ns, "-f", "-")
}

// jsonpath is `kubectl get ARGS -o jsonpath=PATH`.
func (c *cluster) jsonpath(t *testing.T, path string, args ...string) string {
	t.Helper()
	return c.kubectl(t, append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
}

// getJSON decodes `kubectl get ARGS -o json` into v.
func (c *cluster) getJSON(args []string, v any) error {
	r := c.run(nil, append(append([]string{"get"}, args...), "-o", "json")...)
	if r.code != 0 {
		return errors.New(r.String())
	}
	return json.Unmarshal([]byte(r.stdout), v)
}

// pod returns a pod, failing the test if it cannot be read.
func (c *cluster) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := c.getJSON([]string{"pod", "-n", ns, name}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// tryPod returns a pod or an error (for polling).
func (c *cluster) tryPod(ns, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	if err := c.getJSON([]string{"pod", "-n", ns, name}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// pods lists the pods of a namespace matching a label selector, leaving
// out those being deleted.
func (c *cluster) pods(ns, selector string) ([]corev1.Pod, error) {
	var list corev1.PodList
	args := []string{"pods", "-n", ns}
	if selector != "" {
		args = append(args, "-l", selector)
	}
	if err := c.getJSON(args, &list); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// events lists the events of a namespace about one object, oldest first.
func (c *cluster) events(t *testing.T, ns, object string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := c.getJSON([]string{"events", "-n", ns}, &list); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if object == "" || e.InvolvedObject.Name == object {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// eventCount is how many times an event happened (count, or its series).
func eventCount(e corev1.Event) int {
	n := int(e.Count)
	if e.Series != nil && int(e.Series.Count) > n {
		n = int(e.Series.Count)
	}
	if n == 0 {
		n = 1
	}
	return n
}

// findEvents returns the events about object with the reason whose message
// contains substr, and how many times they happened in all.
func (c *cluster) findEvents(t *testing.T, ns, object, reason, substr string) ([]corev1.Event, int) {
	t.Helper()
	var out []corev1.Event
	total := 0
	for _, e := range c.events(t, ns, object) {
		if e.Reason == reason && strings.Contains(e.Message, substr) {
			out = append(out, e)
			total += eventCount(e)
		}
	}
	return out, total
}

func describeEvents(evs []corev1.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s %s (x%d): %s\n", eventTime(e).Format(time.TimeOnly), e.Type, e.Reason, eventCount(e), e.Message)
	}
	return b.String()
}

// namespace creates a namespace for a (sub)test, waits for its default
// service account, and on failure logs what the namespace holds.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	c.kubectl(t, "create", "namespace", name)
	waitFor(t, 60*time.Second, "service account default in namespace "+name, func() (bool, string) {
		r := c.run(nil, "get", "serviceaccount", "default", "-n", name, "-o", "name")
		return r.code == 0, r.String()
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.dump(t, name)
		}
	})
	return name
}

// dump logs the pods and events of a namespace (after a failure).
func (c *cluster) dump(t *testing.T, ns string) {
	t.Helper()
	r := c.run(nil, "get", "pods", "-n", ns, "-o", "wide")
	t.Logf("kubectl get pods -n %s -o wide:\n%s%s", ns, r.stdout, r.stderr)
	r = c.run(nil, "get", "pods", "-n", ns, "-o", "yaml")
	t.Logf("kubectl get pods -n %s -o yaml:\n%s%s", ns, r.stdout, r.stderr)
	r = c.run(nil, "get", "events", "-n", ns, "--sort-by=.lastTimestamp")
	t.Logf("kubectl get events -n %s:\n%s%s", ns, r.stdout, r.stderr)
}

// background is a long-running kubectl (logs -f, port-forward) whose
// stdout is read line by line.
type background struct {
	args   []string
	cancel context.CancelFunc
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error // valid once done is closed
}

// startKubectl starts kubectl in the background for at most timeout; it is
// ended at the end of the test.
func (c *cluster) startKubectl(t *testing.T, timeout time.Duration, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	b := &background{args: args, cancel: cancel, lines: make(chan string, 1000), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd := c.kubectlCmd(ctx, args...)
	cmd.Stderr = b.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start kubectl %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case b.lines <- sc.Text():
			default: // nobody reads: drop
			}
		}
		close(b.lines)
		b.err = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.stop)
	return b
}

// next waits up to timeout for the next line of output.
func (b *background) next(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-b.lines:
		if !ok {
			<-b.done
			return "", fmt.Errorf("kubectl %s ended (%v); stderr:\n%s", strings.Join(b.args, " "), b.err, b.stderr)
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("kubectl %s printed nothing within %v; stderr:\n%s", strings.Join(b.args, " "), timeout, b.stderr)
	}
}

func (b *background) stop() {
	b.cancel()
	go func() {
		for range b.lines {
		}
	}()
	<-b.done
}

// ---- waiting and HTTP ----

// waitFor polls cond until it reports done, failing the test after timeout
// with the last state cond described.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	start := time.Now()
	var state string
	for {
		var done bool
		done, state = cond()
		if done {
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v; last state:\n%s", what, timeout, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// httpGet fetches a URL and returns the body of a 200 answer.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// ---- pod status helpers ----

func podReady(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue }

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

// containerStatus returns the status of a container (init containers too).
func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// podSummary is a one-line description of a pod's status for failures.
func podSummary(p *corev1.Pod) string {
	if p == nil {
		return "<no pod>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: phase=%s reason=%q message=%q ready=%s ip=%s", p.Name, p.Status.Phase, p.Status.Reason, p.Status.Message, podCondition(p, corev1.PodReady), p.Status.PodIP)
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			fmt.Fprintf(&b, "\n  %s: ready=%v restarts=%d state=%s last=%s id=%s", s.Name, s.Ready, s.RestartCount, stateString(s.State), stateString(s.LastTerminationState), s.ContainerID)
		}
	}
	return b.String()
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running(since " + s.Running.StartedAt.Format(time.TimeOnly) + ")"
	case s.Waiting != nil:
		return fmt.Sprintf("waiting(%s: %s)", s.Waiting.Reason, s.Waiting.Message)
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s, exit %d, signal %d: %s)", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Signal, s.Terminated.Message)
	}
	return "none"
}

// waitPod polls a pod until cond holds.
func (c *cluster) waitPod(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	waitFor(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, what), func() (bool, string) {
		p, err := c.tryPod(ns, name)
		if err != nil {
			return false, err.Error()
		}
		last = p
		return cond(p), podSummary(p)
	})
	return last
}

// waitRunningReady waits for a pod to be Running and Ready.
func (c *cluster) waitRunningReady(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	return c.waitPod(t, ns, name, podTimeout, "Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podReady(p)
	})
}

// waitRunning waits for a pod to be Running with every container running.
func (c *cluster) waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	return c.waitPod(t, ns, name, podTimeout, "Running", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
			return false
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Running == nil {
				return false
			}
		}
		return true
	})
}

// containerCgroup finds the cgroup directory of a container (named by its
// ID) under /berth/NODE in a hierarchy ("memory", "cpu", ...).
func (c *cluster) containerCgroup(hierarchy, containerID string) (string, error) {
	id := strings.TrimPrefix(containerID, "containerd://")
	if id == "" {
		return "", errors.New("no container ID")
	}
	base := filepath.Join("/sys/fs/cgroup", hierarchy, "berth", c.node)
	var found string
	filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == id {
			found = path
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("no cgroup of container %s under %s", id, base)
	}
	return found, nil
}

// readInt reads a cgroup file holding one integer.
func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// subtests runs named checks against one cluster concurrently, each as a
// subtest (t.Run from its own goroutine: no t.Parallel, so the checks take
// no slot of -parallel and cannot starve the other clusters' tests).
func subtests(t *testing.T, tests map[string]func(t *testing.T)) {
	t.Helper()
	names := make([]string, 0, len(tests))
	for name := range tests {
		names = append(names, name)
	}
	sort.Strings(names)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, tests[name])
		}()
	}
	wg.Wait()
}
