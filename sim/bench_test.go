package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"berth/internal/testserver"
	"berth/sim"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// counters counts ready nodes and running pods through watches.
type counters struct{ ready, running atomic.Int64 }

func watchCounts(ctx context.Context, client kubernetes.Interface) *counters {
	c := &counters{}
	rc := client.CoreV1().RESTClient()
	_, nodes := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.NewListWatchFromClient(rc, "nodes", "", fields.Everything()),
		ObjectType:    &corev1.Node{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj interface{}) {
				if nodeReady(obj.(*corev1.Node)) {
					c.ready.Add(1)
				}
			},
			UpdateFunc: func(old, obj interface{}) {
				if !nodeReady(old.(*corev1.Node)) && nodeReady(obj.(*corev1.Node)) {
					c.ready.Add(1)
				}
			},
		},
	})
	_, pods := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.NewListWatchFromClient(rc, "pods", "", fields.Everything()),
		ObjectType:    &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, obj interface{}) {
				if old.(*corev1.Pod).Status.Phase != corev1.PodRunning && obj.(*corev1.Pod).Status.Phase == corev1.PodRunning {
					c.running.Add(1)
				}
			},
		},
	})
	go nodes.RunWithContext(ctx)
	go pods.RunWithContext(ctx)
	return c
}

func waitCount(v *atomic.Int64, n int) {
	for v.Load() < int64(n) {
		time.Sleep(10 * time.Millisecond)
	}
}

// createPods creates count pods bound round-robin to nodes, with 16
// concurrent clients.
func createPods(ctx context.Context, b *testing.B, client kubernetes.Interface, count, nodes int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < count; i = int(next.Add(1)) - 1 {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default"},
					Spec: corev1.PodSpec{
						NodeName:   fmt.Sprintf("sim-%d", i%nodes),
						Containers: []corev1.Container{{Name: "app", Image: "app:1"}},
					},
				}
				if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// reqs and reqNanos count the simulator's requests (watches aside) and
// their total time.
var reqs, reqNanos atomic.Int64

// timing measures the requests of the client it wraps.
type timing struct{ rt http.RoundTripper }

func (t *timing) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("watch") != "" {
		return t.rt.RoundTrip(r)
	}
	t0 := time.Now()
	resp, err := t.rt.RoundTrip(r)
	reqs.Add(1)
	reqNanos.Add(int64(time.Since(t0)))
	return resp, err
}

// runSim starts a simulator with n nodes against srv; the returned
// function stops it.
func runSim(b *testing.B, srv *testserver.Server, nodes int) func() {
	reqs.Store(0)
	reqNanos.Store(0)
	rc := srv.ProtobufConfig()
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &timing{rt: rt} })
	s, err := sim.New(sim.Config{Client: kubernetes.NewForConfigOrDie(rc), Nodes: nodes, Logger: srv.Config.Logger, Workers: envInt("BERTH_SIM_WORKERS", 0)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkScale registers BERTH_SIM_NODES nodes (default 1,000), then
// creates BERTH_SIM_PODS pods (default 10,000) bound round-robin to them
// and measures how fast they become Running, all in one process with the
// control plane. Run: go test ./sim -run '^$' -bench . -benchtime 1x
func BenchmarkScale(b *testing.B) {
	nodes, pods := envInt("BERTH_SIM_NODES", 1000), envInt("BERTH_SIM_PODS", 10000)
	for range b.N {
		srv := testserver.Start(b, testserver.Bare)
		ctx, cancel := context.WithCancel(context.Background())
		count := watchCounts(ctx, kubernetes.NewForConfigOrDie(srv.ProtobufConfig()))
		t0 := time.Now()
		stop := runSim(b, srv, nodes)
		waitCount(&count.ready, nodes)
		registered := time.Since(t0)

		t1 := time.Now()
		createPods(ctx, b, kubernetes.NewForConfigOrDie(srv.ProtobufConfig()), pods, nodes)
		created := time.Since(t1)
		waitCount(&count.running, pods)
		allRunning := time.Since(t1)
		b.ReportMetric(registered.Seconds(), "s-nodes-ready")
		b.ReportMetric(float64(pods)/created.Seconds(), "pods-created/s")
		b.ReportMetric(float64(pods)/allRunning.Seconds(), "pods-running/s")
		b.Logf("%d nodes ready in %s; %d pods created in %s, all running after %s", nodes, registered, pods, created, allRunning)
		b.Logf("simulator: %d requests, mean %s", reqs.Load(), time.Duration(reqNanos.Load()/max(1, reqs.Load())))
		stop()
		cancel()
	}
}

// BenchmarkBacklog creates the pods first, then starts the simulator: it
// measures how fast the simulator alone brings a backlog of pods to
// Running (one status write each).
func BenchmarkBacklog(b *testing.B) {
	nodes, pods := envInt("BERTH_SIM_NODES", 1000), envInt("BERTH_SIM_PODS", 10000)
	for range b.N {
		srv := testserver.Start(b, testserver.Bare)
		ctx, cancel := context.WithCancel(context.Background())
		createPods(ctx, b, kubernetes.NewForConfigOrDie(srv.ProtobufConfig()), pods, nodes)
		count := watchCounts(ctx, kubernetes.NewForConfigOrDie(srv.ProtobufConfig()))
		time.Sleep(time.Second) // let the watches list
		t0 := time.Now()
		stop := runSim(b, srv, nodes)
		waitCount(&count.ready, nodes)
		registered := time.Since(t0)
		waitCount(&count.running, pods)
		allRunning := time.Since(t0)
		b.ReportMetric(registered.Seconds(), "s-nodes-ready")
		b.ReportMetric(float64(pods)/allRunning.Seconds(), "pods-running/s")
		b.Logf("%d nodes ready in %s; %d pods running after %s", nodes, registered, pods, allRunning)
		b.Logf("simulator: %d requests, mean %s", reqs.Load(), time.Duration(reqNanos.Load()/max(1, reqs.Load())))
		stop()
		cancel()
	}
}
