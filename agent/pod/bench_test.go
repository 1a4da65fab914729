package pod_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkPodStartup measures the latency from the creation of a pod to
// the API showing it Running, for 50 pods created at once with their
// image present (the target: p50 ≤ 400 ms, p99 ≤ 1.5 s).
//
//	go test ./agent/pod -run '^$' -bench PodStartup -benchtime 1x
func BenchmarkPodStartup(b *testing.B) {
	const pods = 50
	c := newCluster(b)
	ctx := context.Background()
	if _, err := c.node.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox:latest"}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		w, err := c.client.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		created := map[string]time.Time{}
		var latencies []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			seen := map[string]bool{}
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type != watch.Modified || p.Status.Phase != corev1.PodRunning || seen[p.Name] {
					continue
				}
				now := time.Now()
				mu.Lock()
				seen[p.Name] = true
				latencies = append(latencies, now.Sub(created[p.Name]))
				n := len(latencies)
				mu.Unlock()
				if n == pods {
					return
				}
			}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		interval, _ := time.ParseDuration(os.Getenv("BENCH_INTERVAL"))
		for j := 0; j < pods; j++ {
			time.Sleep(interval)
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := busybox(fmt.Sprintf("p%d-%d", i, j), "exec sleep 3600")
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
				p.Namespace, p.Spec.NodeName = c.ns, c.nodeName
				mu.Lock()
				created[p.Name] = time.Now()
				mu.Unlock()
				if _, err := c.client.CoreV1().Pods(c.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("only %d pods running after 2 minutes", len(latencies))
		}
		w.Stop()
		wall := time.Since(start)
		sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
		p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
		b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.Logf("%d pods: p50 %v, p99 %v, max %v, all running after %v", pods, p50, p99, latencies[len(latencies)-1], wall)
		b.StopTimer()
		if err := c.client.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			list, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(list.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("pods not deleted")
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.StartTimer()
	}
}
