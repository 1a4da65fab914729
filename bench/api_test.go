// Package bench holds benchmarks that measure berth against the targets of
// its issues. They print figures; run them on demand:
//
//	go test ./bench -run '^$' -bench . -benchtime 1x
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clients is the number of concurrent clients, as the issue asks.
const clients = 16

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newClients returns one clientset per concurrent client, each with its own
// connection (a custom dialer keeps client-go from sharing transports), as
// separate clients would have.
func newClients(b *testing.B, base *rest.Config) []kubernetes.Interface {
	out := make([]kubernetes.Interface, clients)
	for i := range out {
		cfg := rest.CopyConfig(base)
		cfg.Dial = (&net.Dialer{}).DialContext
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// runClients spreads n operations over the clients, each client running
// its share one after another, and times each operation.
func runClients(cs []kubernetes.Interface, n int, op func(c kubernetes.Interface, i int) error) (*latencies, time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	l := &latencies{}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(c, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				l.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	return l, time.Since(start), nil
}

// runPaced is runClients with the clients together issuing rate operations
// per second: each client sends on its own schedule (or at once when it
// falls behind it).
func runPaced(cs []kubernetes.Interface, n, rate int, op func(c kubernetes.Interface, i int) error) (*latencies, time.Duration, error) {
	interval := time.Duration(len(cs)) * time.Second / time.Duration(rate)
	l := &latencies{}
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(k) * interval / time.Duration(len(cs)))
			for i := k; i < n; i += len(cs) {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				t := time.Now()
				if err := op(c, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				l.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	return l, time.Since(start), nil
}

// run spreads n operations over the clients, timing each.
func run(n int, op func(i int) error) (*latencies, time.Duration, error) {
	l := &latencies{}
	var next atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				l.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	return l, time.Since(start), nil
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Data:       map[string]string{"greeting": "hello", "config.yaml": "replicas: 3\nimage: berth/demo:v1\n"},
	}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "berth/demo:v1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

// report prints a line of figures and records them as benchmark metrics.
func report(b *testing.B, what string, n int, l *latencies, wall time.Duration) {
	rate := float64(n) / wall.Seconds()
	p50, p99 := ms(l.quantile(0.50)), ms(l.quantile(0.99))
	b.ReportMetric(rate, "ops/s")
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	fmt.Printf("%-28s n=%-6d %8.0f ops/s   p50 %6.2f ms   p90 %6.2f ms   p99 %6.2f ms   max %6.2f ms\n", what, n, rate, p50, ms(l.quantile(0.90)), p99, ms(l.quantile(1)))
}

// BenchmarkAPI measures create, get, update and list with 16 concurrent
// clients (each with its own connection) against `berth server` running as
// its own process with embedded etcd. The server runs without controllers
// and scheduler: this measures the API server (BenchmarkScheduling measures
// the whole control plane).
func BenchmarkAPI(b *testing.B) {
	const n = 4000
	// The 16 client-go clients allocate heavily; collecting their garbage
	// less often keeps their own pauses out of the server's latencies. The
	// server runs with Go's defaults.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	bin := buildBerth(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		srv, _ := startServer(b, bin, dir, "--disable-controllers", "--disable-scheduler")
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
		if err != nil {
			b.Fatal(err)
		}
		cfg.QPS, cfg.Burst = -1, 0
		cs := newClients(b, cfg)
		ctx := context.Background()

		stopProfile := profileServer(b, cfg, "create")
		l, wall, err := runClients(cs, n, func(c kubernetes.Interface, i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("cm-%05d", i)), metav1.CreateOptions{})
			return err
		})
		stopProfile()
		if err != nil {
			b.Fatal(err)
		}
		report(b, "create configmap", n, l, wall)

		l, wall, err = runClients(cs, n, func(c kubernetes.Interface, i int) error {
			_, err := c.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("pod-%05d", i)), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "create pod", n, l, wall)

		stopProfile = profileServer(b, cfg, "get")
		l, wall, err = runClients(cs, 4*n, func(c kubernetes.Interface, i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("cm-%05d", i%n), metav1.GetOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		stopProfile()
		report(b, "get configmap", 4*n, l, wall)

		// The same gets at a steady 4,000/s, below saturation: the latency
		// of the server rather than of a CPU queue shared with the clients.
		l, wall, err = runPaced(cs, 4*n, 4000, func(c kubernetes.Interface, i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("cm-%05d", i%n), metav1.GetOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "get configmap @4000/s", 4*n, l, wall)

		l, wall, err = runClients(cs, n, func(c kubernetes.Interface, i int) error {
			cm := configMap(fmt.Sprintf("cm-%05d", i))
			cm.Data["greeting"] = "bonjour"
			_, err := c.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "update configmap", n, l, wall)

		serverQuantiles(b, cfg, "get", "configmaps")
		benchList(b, cs[0], ctx)
		fmt.Printf("server RSS after the run        %6.1f MiB\n", rssMiB(srv.Process.Pid))
		stopServer(b, srv)
	}
}

// benchList times lists of 2,000 objects (a namespace holding exactly
// that many), one client at a time.
func benchList(b *testing.B, c kubernetes.Interface, ctx context.Context) {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "list"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := run(2000, func(i int) error {
		cm := configMap(fmt.Sprintf("cm-%05d", i))
		_, err := c.CoreV1().ConfigMaps("list").Create(ctx, cm, metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	l := &latencies{}
	start := time.Now()
	const lists = 20
	for i := 0; i < lists; i++ {
		t := time.Now()
		list, err := c.CoreV1().ConfigMaps("list").List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) != 2000 {
			b.Fatalf("listed %d", len(list.Items))
		}
		l.add(time.Since(t))
	}
	report(b, "list 2000 configmaps", lists, l, time.Since(start))
}

// profileServer records a CPU profile of the server during one phase when
// BERTH_BENCH_PROFILE names a directory: the profile is written there as
// PHASE.pprof. It returns the function that ends the phase.
func profileServer(b *testing.B, cfg *rest.Config, phase string) func() {
	dir := os.Getenv("BERTH_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		// One-second profiles until the phase ends, concatenated by pprof.
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			resp, err := (&http.Client{Transport: rt}).Get(cfg.Host + "/debug/pprof/profile?seconds=1")
			if err != nil {
				b.Error(err)
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", phase, i)), data, 0o644)
		}
	}()
	return func() { close(done); <-finished }
}

// serverQuantiles prints, from the server's own request histogram, the
// share of requests of one verb and resource it answered within each
// bucket: the server's time, without the clients' and the transport's.
func serverQuantiles(b *testing.B, cfg *rest.Config, verb, resource string) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(cfg.Host + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var total float64
	type bucket struct {
		le    string
		count float64
	}
	var buckets []bucket
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_duration_seconds_bucket{") ||
			!strings.Contains(line, `verb="`+verb+`"`) || !strings.Contains(line, `resource="`+resource+`"`) {
			continue
		}
		le := line[strings.Index(line, `le="`)+4:]
		le = le[:strings.Index(le, `"`)]
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		buckets = append(buckets, bucket{le, v})
		if le == "+Inf" {
			total = v
		}
	}
	if total == 0 {
		return
	}
	var parts []string
	for _, bk := range buckets {
		if bk.le == "0.0005" || bk.le == "0.001" || bk.le == "0.0025" || bk.le == "0.005" {
			parts = append(parts, fmt.Sprintf("<=%sms %.2f%%", strings.TrimSuffix(strings.TrimPrefix(fmt.Sprint(mustFloat(bk.le)*1000), ""), ".0"), 100*bk.count/total))
		}
	}
	fmt.Printf("server-side %s %s (all phases): %s\n", verb, resource, strings.Join(parts, ", "))
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
