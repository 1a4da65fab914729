package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"berth/store/etcd"
)

// BenchmarkEmbeddedPut measures raw transactions on the embedded etcd with
// 16 concurrent writers: the ceiling under every API write.
func BenchmarkEmbeddedPut(b *testing.B) {
	e, err := etcd.StartEmbedded(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c := e.Client()
	const n, writers = 8000, 16
	var next atomic.Int64
	value := string(make([]byte, 600))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				key := fmt.Sprintf("/registry/x/%06d", i)
				if _, err := c.Txn(context.Background()).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, value)).Commit(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	fmt.Printf("etcd txn put: %d in %v = %.0f/s\n", n, d, float64(n)/d.Seconds())
}
