package proxy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkProgrammingLatency measures how long an endpoint change takes
// to reach the kernel with 1,000 Services (2 endpoints each) in the
// table: from the EndpointSlice update at the API (a fake clientset
// feeding real informers) to the end of the sync that wrote it
// ("sync-*"), and to the first new connection that reaches the new
// endpoint ("conn-*"). Run with e.g. -benchtime=300x for a stable p99.
func BenchmarkProgrammingLatency(b *testing.B) {
	const services = 1000
	e := newKernelEnv(b, 3)

	synced := make(chan SyncResult, 1024)
	target := types.NamespacedName{Namespace: "ns", Name: "svc-0"}
	var full time.Duration
	var objs []runtime.Object
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		eps := kslice(name, name+"-1",
			ep(fmt.Sprintf("10.44.%d.%d", i/250, i%250+1), "other-node"),
			ep(fmt.Sprintf("10.45.%d.%d", i/250, i%250+1), "other-node"))
		if i == 0 {
			eps = kslice(name, name+"-1", e.kep("p1"))
		}
		objs = append(objs, service(name, ip), eps)
	}
	k := e.startProxyWith(objs, func(c *Config) {
		c.OnSync = func(res SyncResult) {
			if res.Full {
				full = res.End.Sub(res.Start)
			}
			if _, ok := res.Changes[target]; ok && res.Err == nil {
				synced <- res
			}
		}
	})
	ctx := context.Background()
	// Wait for everything to be in the kernel, and svc-0 to answer.
	waitForB(b, 60*time.Second, func() bool {
		r, err := dial(e.pods["p3"].ns, "10.96.0.1:80", 200*time.Millisecond)
		return err == nil && r.pod == "p1" && k.p.applied.Load() >= func() uint64 {
			k.p.mu.Lock()
			defer k.p.mu.Unlock()
			return k.p.gen
		}()
	})
	for len(synced) > 0 {
		<-synced
	}
	b.Logf("initial full sync of %d services: %v", services, full)

	var syncLat, connLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		pod := []string{"p2", "p1"}[i%2]
		es := kslice("svc-0", "svc-0-1", e.kep(pod))
		start := time.Now()
		if _, err := k.client.DiscoveryV1().EndpointSlices("ns").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		select {
		case res := <-synced:
			syncLat = append(syncLat, res.End.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("change never synced")
		}
		for {
			r, err := dial(e.pods["p3"].ns, "10.96.0.1:80", time.Second)
			if err == nil && r.pod == pod {
				connLat = append(connLat, time.Since(start))
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("connections never reached %s: %+v %v", pod, r, err)
			}
		}
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		q := func(f float64) float64 { return float64(d[int(f*float64(len(d)-1))]) / 1e6 }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report("sync", syncLat)
	report("conn", connLat)
	b.ReportMetric(float64(full)/1e6, "full-sync-ms")
}

func waitForB(b *testing.B, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
