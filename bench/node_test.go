package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// node is a berth process running a node: `berth up`, or `berth agent`.
type node struct {
	cmd  *exec.Cmd
	dir  string
	name string
	// bridge is the node's pod bridge, deleted when it stops.
	bridge string
	lines  chan string
}

// nodeNetwork returns a bridge name and pod CIDR no other benchmark or
// test uses at the same time.
func nodeNetwork() (bridge, cidr string) {
	id := rand.IntN(1 << 12)
	return fmt.Sprintf("bb%04x", id), fmt.Sprintf("10.%d.%d.0/24", 150+id%40, id>>4)
}

// shortDir is a data directory with a short path (containerd's unix
// sockets live below it).
func shortDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "bb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startNode runs bin with args and waits until it prints a line starting
// with ready; it returns the time that took.
func startNode(b *testing.B, bin string, args []string, ready string) (*node, time.Duration) {
	n := &node{cmd: exec.Command(bin, args...), lines: make(chan string, 1024)}
	for i, a := range args {
		switch a {
		case "--bridge":
			n.bridge = args[i+1]
		case "--node-name":
			n.name = args[i+1]
		case "--data-dir":
			n.dir = args[i+1]
		}
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(n.dir, "output.log"))
	if err != nil {
		b.Fatal(err)
	}
	n.cmd.Stderr = logFile
	start := time.Now()
	if err := n.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case n.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, stdout)
		close(n.lines)
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-n.lines:
			if !ok {
				n.cmd.Wait()
				out, _ := os.ReadFile(logFile.Name())
				b.Fatalf("%s exited before it was ready:\n%s", args[0], tail(string(out), 40))
			}
			if strings.HasPrefix(line, ready) {
				return n, time.Since(start)
			}
		case <-timeout:
			n.cmd.Process.Kill()
			b.Fatalf("%s not ready within 2 minutes", args[0])
		}
	}
}

// stop interrupts the node (which stops its pods) and waits for it.
func (n *node) stop(b *testing.B) time.Duration {
	start := time.Now()
	n.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b.Errorf("%s exited with %v", n.cmd.Args[1], err)
		}
	case <-time.After(2 * time.Minute):
		n.cmd.Process.Kill()
		b.Errorf("%s did not stop within 2 minutes", n.cmd.Args[1])
	}
	if n.bridge != "" {
		exec.Command("ip", "link", "delete", n.bridge).Run()
	}
	return time.Since(start)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// upArgs are the arguments of a `berth up` on dir with a network of its own
// and no ingress ports.
func upArgs(dir string) []string {
	bridge, cidr := nodeNetwork()
	return append([]string{"up", "--data-dir", dir, "--port", strconv.Itoa(0), "--bind-address", "127.0.0.1",
		"--agent-address", ":0", "--bridge", bridge, "--pod-cidr", cidr, "--node-name", "bench-" + bridge,
		"--cluster-cidr", clusterOf(cidr)}, noIngress...)
}

// noIngress keeps a node's ingress off the host's ports 80 and 443.
var noIngress = []string{"--ingress-http-port", "0", "--ingress-https-port", "0"}

// clusterOf is the /16 around a pod CIDR 10.A.B.0/24.
func clusterOf(podCIDR string) string {
	parts := strings.Split(podCIDR, ".")
	return "10." + parts[1] + ".0.0/16"
}

// adminConfig is the admin client configuration of the cluster in dir.
func adminConfig(b *testing.B, dir string) *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	return cfg
}

// nodeReady waits until the node's Ready condition is True.
func nodeReady(b *testing.B, c kubernetes.Interface, name string) {
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		b.Fatalf("node %s not Ready", name)
	}
}

// BenchmarkUp measures `berth up` from exec to a Ready node (the "berth
// is up" line, then the Node's Ready condition as read through the API),
// on a fresh data dir and on a restart of the same cluster, and the stop
// on SIGINT.
func BenchmarkUp(b *testing.B) {
	bin := buildBerth(b)
	const runs = 5
	var fresh, restart, stop []time.Duration
	for i := 0; i < runs; i++ {
		dir := shortDir(b)
		args := upArgs(dir)
		start := time.Now()
		n, _ := startNode(b, bin, args, "berth is up")
		nodeReady(b, kubernetes.NewForConfigOrDie(adminConfig(b, dir)), n.name)
		fresh = append(fresh, time.Since(start))
		stop = append(stop, n.stop(b))
		start = time.Now()
		n, _ = startNode(b, bin, args, "berth is up")
		nodeReady(b, kubernetes.NewForConfigOrDie(adminConfig(b, dir)), n.name)
		restart = append(restart, time.Since(start))
		n.stop(b)
	}
	med := func(d []time.Duration) float64 { slices.Sort(d); return ms(d[len(d)/2]) }
	fmt.Printf("berth up → node Ready, fresh     median %6.0f ms  (max %.0f ms, %d runs; target ≤ 5000 ms)\n", med(fresh), ms(slices.Max(fresh)), runs)
	fmt.Printf("berth up → node Ready, restart   median %6.0f ms  (max %.0f ms)\n", med(restart), ms(slices.Max(restart)))
	fmt.Printf("stop on SIGINT (no pods)         median %6.0f ms\n", med(stop))
	b.ReportMetric(med(fresh), "up-ms")
}

// benchPod is a pod of the demo image (present on the node after the
// warm-up) with no probes: Running as soon as its container started.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "startup"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "demo", Image: "berth/demo:v1", ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// runningWatcher reports when each pod of the namespace is first seen
// Running.
type runningWatcher struct {
	mu      sync.Mutex
	running map[string]time.Time
	w       watch.Interface
}

func watchRunning(b *testing.B, c kubernetes.Interface) *runningWatcher {
	w, err := c.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{LabelSelector: "bench=startup"})
	if err != nil {
		b.Fatal(err)
	}
	rw := &runningWatcher{running: map[string]time.Time{}, w: w}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Status.Phase != corev1.PodRunning {
				continue
			}
			rw.mu.Lock()
			if _, seen := rw.running[p.Name]; !seen {
				rw.running[p.Name] = time.Now()
			}
			rw.mu.Unlock()
		}
	}()
	return rw
}

func (rw *runningWatcher) at(name string) (time.Time, bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	t, ok := rw.running[name]
	return t, ok
}

// waitRunning waits until every pod in names is Running.
func (rw *runningWatcher) waitRunning(b *testing.B, names []string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		all := true
		for _, n := range names {
			if _, ok := rw.at(n); !ok {
				all = false
				break
			}
		}
		if all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("pods not Running within %v", timeout)
}

// deleteBenchPods deletes the benchmark's pods and waits until they are gone.
func deleteBenchPods(b *testing.B, c kubernetes.Interface) {
	ctx := context.Background()
	if err := c.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=startup"}); err != nil {
		b.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "bench=startup"})
		return err == nil && len(l.Items) == 0, nil
	}); err != nil {
		b.Fatal("benchmark pods not deleted")
	}
}

// BenchmarkPodStartup measures pod startup latency, from the create call
// to the pod seen Running through a watch, end to end on `berth up`:
// API server, scheduler, agent, containerd and runc, with the image
// already on the node. Three ways: one pod at a time (50 pods), 50 pods
// created at 5 per second, and 50 pods created at once (a burst the 2
// cores work through).
func BenchmarkPodStartup(b *testing.B) {
	bin := buildBerth(b)
	dir := shortDir(b)
	n, _ := startNode(b, bin, upArgs(dir), "berth is up")
	defer n.stop(b)
	c := kubernetes.NewForConfigOrDie(adminConfig(b, dir))
	nodeReady(b, c, n.name)
	ctx := context.Background()
	// The service account controller must have made "default".
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		b.Fatal("no default service account")
	}

	rw := watchRunning(b, c)
	defer rw.w.Stop()
	// Warm-up: pulls the image.
	if _, err := c.CoreV1().Pods("default").Create(ctx, benchPod("warmup"), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	rw.waitRunning(b, []string{"warmup"}, 2*time.Minute)
	deleteBenchPods(b, c)

	const pods = 50
	measure := func(what string, interval time.Duration) {
		names := make([]string, pods)
		created := make([]time.Time, pods)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range pods {
			names[i] = fmt.Sprintf("%s-%d", what, i)
			if interval < 0 {
				// One at a time: wait for the previous pod.
				created[i] = time.Now()
				if _, err := c.CoreV1().Pods("default").Create(ctx, benchPod(names[i]), metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				rw.waitRunning(b, names[i:i+1], 2*time.Minute)
				continue
			}
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			created[i] = time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.CoreV1().Pods("default").Create(ctx, benchPod(names[i]), metav1.CreateOptions{}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		rw.waitRunning(b, names, 5*time.Minute)
		wall := time.Since(start)
		l := &latencies{}
		for i, name := range names {
			t, _ := rw.at(name)
			l.add(t.Sub(created[i]))
			if d := t.Sub(created[i]); d > 2*time.Second && interval < 0 {
				fmt.Printf("slow: %s created %s, Running after %v\n", name, created[i].Format("15:04:05.000"), d)
			}
		}
		fmt.Printf("pod startup, %-22s n=%d  p50 %6.0f ms  p90 %6.0f ms  p99 %6.0f ms  max %6.0f ms  wall %5.1f s\n",
			what, pods, ms(l.quantile(0.5)), ms(l.quantile(0.9)), ms(l.quantile(0.99)), ms(l.quantile(1)), wall.Seconds())
		b.ReportMetric(ms(l.quantile(0.5)), what+"-p50-ms")
		b.ReportMetric(ms(l.quantile(0.99)), what+"-p99-ms")
		deleteBenchPods(b, c)
	}
	measure("sequential", -1)
	measure("paced-5-per-s", 200*time.Millisecond)
	measure("burst", 0)
	fmt.Println("targets: p50 ≤ 400 ms, p99 ≤ 1500 ms")
}

// BenchmarkAgentMemory runs `berth server` and a `berth agent` joined to
// it with a token, as two processes, starts 30 pods on the node and
// reports the agent's resident memory (containerd not included) once they
// run.
func BenchmarkAgentMemory(b *testing.B) {
	bin := buildBerth(b)
	serverDir := b.TempDir()
	srv, _ := startServer(b, bin, serverDir)
	defer stopServer(b, srv)
	cfg := adminConfig(b, serverDir)
	out, err := exec.Command(bin, "token", "create", "--data-dir", serverDir).Output()
	if err != nil {
		b.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	agentDir := shortDir(b)
	bridge, cidr := nodeNetwork()
	name := "bench-" + bridge
	a, _ := startNode(b, bin, []string{"agent", "--data-dir", agentDir, "--server", cfg.Host, "--token", token,
		"--node-name", name, "--address", ":0", "--bridge", bridge, "--pod-cidr", cidr, "--stop-pods-on-exit",
		"--cluster-cidr", clusterOf(cidr), "--ingress-http-port", "0", "--ingress-https-port", "0"}, "agent ready")
	defer a.stop(b)
	c := kubernetes.NewForConfigOrDie(cfg)
	nodeReady(b, c, name)
	ctx := context.Background()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		b.Fatal("no default service account")
	}
	idle := memoryOf(a.cmd.Process.Pid)
	const pods = 30
	rw := watchRunning(b, c)
	defer rw.w.Stop()
	var names []string
	for i := range pods {
		p := benchPod(fmt.Sprintf("mem-%d", i))
		p.Spec.NodeName = name
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		names = append(names, p.Name)
	}
	rw.waitRunning(b, names, 5*time.Minute)
	// Let probes, relists, stats and status updates settle.
	time.Sleep(30 * time.Second)
	var samples []memory
	for range 5 {
		samples = append(samples, memoryOf(a.cmd.Process.Pid))
		time.Sleep(2 * time.Second)
	}
	slices.SortFunc(samples, func(x, y memory) int { return int(x.rss*1024 - y.rss*1024) })
	ctdRSS := 0.0
	if data, err := os.ReadFile(filepath.Join(agentDir, "containerd", "containerd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			ctdRSS = rssMiB(pid)
		}
	}
	running, _ := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.phase", "Running").String()})
	fmt.Printf("agent idle (no pods)           RSS %6.1f MiB  PSS %6.1f MiB  private %6.1f MiB\n", idle.rss, idle.pss, idle.private)
	m := samples[2]
	fmt.Printf("agent with %d pods running     RSS %6.1f MiB  PSS %6.1f MiB  private %6.1f MiB (median of 5; target ≤ 50 MiB)\n",
		len(running.Items), m.rss, m.pss, m.private)
	fmt.Printf("  (RSS counts the pages of the berth binary's text the agent maps, shared with the server; containerd %.1f MiB, server %.1f MiB RSS)\n",
		ctdRSS, rssMiB(srv.Process.Pid))
	b.ReportMetric(m.rss, "agent-rss-MiB")
	b.ReportMetric(m.pss, "agent-pss-MiB")
	b.ReportMetric(m.private, "agent-private-MiB")
}
