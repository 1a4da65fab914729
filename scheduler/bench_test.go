package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/internal/testserver"
	"berth/scheduler"
)

// BenchmarkScheduleThroughput measures pods/s end to end: a control plane
// (testserver) with 1,000 Ready nodes (32 cpu, 128 GiB, 110 pods) and
// 10,000 pending pods (100m, 128 MiB), then the scheduler started; the
// clock runs from Run (informers list everything) until the scheduler's
// pod informer has seen all 10,000 pods bound. It prints that figure and
// the rate from the first binding on.
//
//	go test ./scheduler -run '^$' -bench ScheduleThroughput -benchtime 1x
//
// BERTH_BENCH_REPLICASET=1 makes the pods a ReplicaSet's, so that they
// get the default topology spread constraints.
//
// BERTH_BENCH_CPUPROFILE=FILE records a CPU profile of the scheduling
// phase (server and scheduler share the process).
func BenchmarkScheduleThroughput(b *testing.B) {
	const nodes, pods = 1000, 10000
	ts := testserver.Start(b, testserver.Bare)
	client := kubernetes.NewForConfigOrDie(ts.ProtobufConfig())
	ctx := context.Background()
	parallel(b, nodes, 16, func(i int) error {
		n := testNode(fmt.Sprintf("node-%04d", i), "32", "128Gi", 110,
			withLabels(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%4)))
		created, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		created.Status = n.Status
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-%d", iter)
		if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		owned := func(*v1.Pod) {}
		if os.Getenv("BERTH_BENCH_REPLICASET") != "" {
			// Pods of a ReplicaSet get the default topology spread
			// constraints (hostname and zone).
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: appsv1.ReplicaSetSpec{
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Template: v1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
						Spec:       testPod(ns, "x", "100m", "128Mi").Spec,
					},
				},
			}
			created, err := client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			owned = func(p *v1.Pod) {
				p.Labels = map[string]string{"app": "web"}
				p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(created, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
			}
		}
		parallel(b, pods, 16, func(i int) error {
			p := testPod(ns, fmt.Sprintf("pod-%05d", i), "100m", "128Mi")
			owned(p)
			_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		})
		if f := os.Getenv("BERTH_BENCH_CPUPROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(out); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		s := startBenchScheduler(b, ts)
		var first time.Time
		last, lastChange := 0, time.Now()
		bound := func() int { n, _ := s.CacheCounts(); return n }
		for bound() < pods {
			if first.IsZero() && s.Bound() > 0 {
				first = time.Now()
			}
			if n := bound(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > 30*time.Second {
				a, bo, u := s.QueueCounts()
				b.Fatalf("stuck at %d bound pods: queue %d active, %d back-off, %d unschedulable", n, a, bo, u)
			}
			time.Sleep(5 * time.Millisecond)
		}
		total := time.Since(start)
		steady := time.Since(first)
		b.StopTimer()
		pprof.StopCPUProfile()
		s.stop()
		b.ReportMetric(float64(pods)/total.Seconds(), "pods/s")
		b.ReportMetric(float64(pods)/steady.Seconds(), "steady-pods/s")
		fmt.Printf("scheduled %d pods on %d nodes in %v: %.0f pods/s (%.0f pods/s from the first binding)\n",
			pods, nodes, total.Round(time.Millisecond), float64(pods)/total.Seconds(), float64(pods)/steady.Seconds())
		// Count what the API server says, to be sure.
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName="})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) != 0 {
			b.Fatalf("%d pods still pending", len(list.Items))
		}
	}
}

type runningScheduler struct {
	*scheduler.Scheduler
	stop func()
}

func startBenchScheduler(b *testing.B, ts *testserver.Server) runningScheduler {
	client := kubernetes.NewForConfigOrDie(ts.ProtobufConfig())
	s, err := scheduler.New(scheduler.Config{Client: client})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return runningScheduler{Scheduler: s, stop: func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}}
}

// parallel runs fn(0..n-1) on workers goroutines and fails on the first
// error.
func parallel(b *testing.B, n, workers int, fn func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
