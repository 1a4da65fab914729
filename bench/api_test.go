// Package bench holds benchmarks that measure berth against the targets of
// its issues. They print figures; run them on demand:
//
//	go test ./bench -run '^$' -bench . -benchtime 1x
package bench

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/internal/testserver"
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
func newClients(b *testing.B, s *testserver.Server) []kubernetes.Interface {
	out := make([]kubernetes.Interface, clients)
	for i := range out {
		cfg := rest.CopyConfig(s.Rest)
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
	fmt.Printf("%-28s n=%-6d %8.0f ops/s   p50 %6.2f ms   p99 %6.2f ms\n", what, n, rate, p50, p99)
}

// BenchmarkAPI measures create, get, update and list with 16 concurrent
// clients against an in-process server with embedded etcd.
func BenchmarkAPI(b *testing.B) {
	const n = 4000
	for i := 0; i < b.N; i++ {
		s := testserver.Start(b)
		c := s.Client
		ctx := context.Background()

		l, wall, err := run(n, func(i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("cm-%05d", i)), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "create configmap", n, l, wall)

		l, wall, err = run(n, func(i int) error {
			_, err := c.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("pod-%05d", i)), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "create pod", n, l, wall)

		l, wall, err = run(n, func(i int) error {
			_, err := c.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("cm-%05d", i), metav1.GetOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "get configmap", n, l, wall)

		l, wall, err = run(n, func(i int) error {
			cm := configMap(fmt.Sprintf("cm-%05d", i))
			cm.Data["greeting"] = "bonjour"
			_, err := c.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		report(b, "update configmap", n, l, wall)

		benchList(b, c, ctx)
		s.Stop()
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
