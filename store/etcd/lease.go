package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxLeaseReuse bounds how long a granted lease is reused for objects with
// the same TTL, so that writing many events does not grant a lease each.
const maxLeaseReuse = time.Minute

// Leases grants etcd leases for objects with a time to live, reusing one
// lease per TTL for 5% of the TTL (at most a minute), as Kubernetes does;
// an object may thus live that much longer than asked.
type Leases struct {
	client *clientv3.Client
	mu     sync.Mutex
	byTTL  map[int64]grant
}

type grant struct {
	id      clientv3.LeaseID
	granted time.Time
}

// NewLeases returns a lease manager for client.
func NewLeases(client *clientv3.Client) *Leases {
	return &Leases{client: client, byTTL: map[int64]grant{}}
}

func (l *Leases) get(ctx context.Context, ttl int64) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reuse := min(time.Duration(ttl)*time.Second/20, maxLeaseReuse)
	if g, ok := l.byTTL[ttl]; ok && time.Since(g.granted) < reuse {
		return g.id, nil
	}
	resp, err := l.client.Grant(ctx, ttl+int64(reuse/time.Second))
	if err != nil {
		return 0, err
	}
	l.byTTL[ttl] = grant{id: resp.ID, granted: time.Now()}
	return resp.ID, nil
}
