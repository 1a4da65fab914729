package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseReuse is how long a granted lease is reused for objects with the same
// TTL, so that writing many events does not grant a lease each.
const leaseReuse = time.Minute

// Leases grants etcd leases for objects with a time to live, reusing one
// lease per TTL for a minute; an object may thus live up to a minute longer
// than asked, as in Kubernetes.
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
	if g, ok := l.byTTL[ttl]; ok && time.Since(g.granted) < leaseReuse {
		return g.id, nil
	}
	resp, err := l.client.Grant(ctx, ttl+int64(leaseReuse/time.Second))
	if err != nil {
		return 0, err
	}
	l.byTTL[ttl] = grant{id: resp.ID, granted: time.Now()}
	return resp.ID, nil
}
