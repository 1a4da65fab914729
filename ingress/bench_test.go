package ingress

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkAddedLatency measures what the ingress adds to a request: GETs
// of a small response from the same backend, through the ingress and
// straight, alternating, each over its own keep-alive connection, one at a
// time. The ingress logs every request at info (to io.Discard). Reported:
// p50 and p99 of both, and the added p99 (target: ≤ 1 ms).
func BenchmarkAddedLatency(b *testing.B) {
	body := []byte("hello from the pod\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	defer backend.Close()
	h := startHarnessLogging(b, io.Discard,
		newService("default", "web"),
		sliceFor(b, "default", "web-a", "web", "", backend.Listener.Addr().String(), true),
		newIngress("default", "bench", 0, className("berth"), withRule("bench.example.com", path("Prefix", "/", "web"))),
	)
	client := func() *http.Client {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		b.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	viaIngress, direct := client(), client()
	ingressReq, _ := http.NewRequest(http.MethodGet, h.httpURL+"/bench", nil)
	ingressReq.Host = "bench.example.com"
	directReq, _ := http.NewRequest(http.MethodGet, backend.URL+"/bench", nil)
	get := func(c *http.Client, req *http.Request) time.Duration {
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || n != int64(len(body)) {
			b.Fatalf("status %d, %d bytes", res.StatusCode, n)
		}
		return time.Since(start)
	}
	// Warm up both connections.
	for range 100 {
		get(viaIngress, ingressReq)
		get(direct, directReq)
	}
	through := make([]time.Duration, 0, b.N)
	straight := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		through = append(through, get(viaIngress, ingressReq))
		straight = append(straight, get(direct, directReq))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		i := int(float64(len(d)-1) * p)
		return float64(d[i].Nanoseconds()) / 1e3
	}
	ip50, ip99 := pct(through, 0.50), pct(through, 0.99)
	dp50, dp99 := pct(straight, 0.50), pct(straight, 0.99)
	b.ReportMetric(ip50, "ingress-p50-us")
	b.ReportMetric(ip99, "ingress-p99-us")
	b.ReportMetric(dp50, "direct-p50-us")
	b.ReportMetric(dp99, "direct-p99-us")
	b.ReportMetric(ip99-dp99, "added-p99-us")
}
