package openapi

import (
	"testing"
)

// BenchmarkBuild measures building every document for every built-in
// kind, as the first requests after start or Invalidate do.
func BenchmarkBuild(b *testing.B) {
	s := testScheme(b)
	resources := allResources(s)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		g := &generation{scheme: s, listResource: func() []Resource { return resources }}
		v2, err := g.v2Proto()
		if err != nil {
			b.Fatal(err)
		}
		idx, err := g.v3Index()
		if err != nil {
			b.Fatal(err)
		}
		total := len(g.v2.data) + len(v2.data) + len(idx.data)
		for _, d := range g.v3 {
			total += len(d.data)
		}
		b.ReportMetric(float64(total)/1e6, "MB-cached")
		b.ReportMetric(float64(len(g.v2.data))/1e6, "MB-v2json")
	}
}
