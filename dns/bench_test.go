package dns

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkQueries measures parallel UDP queries for Service names
// against a cluster of 1,000 Services, reported as queries/s.
func BenchmarkQueries(b *testing.B) {
	const services = 1000
	objs := make([]runtime.Object, 0, services)
	names := make([]string, services)
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		ns := fmt.Sprintf("ns-%d", i%20)
		ip := fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
		objs = append(objs, newService(ns, name, []string{ip}, withPort("http", corev1.ProtocolTCP, 80)))
		names[i] = name + "." + ns + ".svc.cluster.local."
	}
	h := start(b, objs, nil)
	h.srv.idx.mu.RLock()
	n := len(h.srv.idx.services)
	h.srv.idx.mu.RUnlock()
	if n != services {
		b.Fatalf("%d services indexed, want %d", n, services)
	}
	var next, failed atomic.Int64
	b.SetParallelism(4) // several queries in flight per core
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		conn, err := c.Dial(h.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		m := new(mdns.Msg)
		for pb.Next() {
			m.SetQuestion(names[next.Add(1)%services], mdns.TypeA)
			r, _, err := c.ExchangeWithConn(m, conn)
			if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d queries failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
}
