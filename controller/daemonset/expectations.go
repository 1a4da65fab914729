package daemonset

import (
	"sync"
	"time"
)

// expectations remember how many pod creations and deletions a DaemonSet
// still expects to see in the pod informer after a sync made them, so that
// the next sync does not act on a cache that has not caught up
// (Kubernetes' ControllerExpectations). Expectations older than ttl are
// considered met.
type expectations struct {
	mu  sync.Mutex
	m   map[string]*expected
	ttl time.Duration
	now func() time.Time
}

type expected struct {
	adds, dels int
	at         time.Time
}

func newExpectations(ttl time.Duration, now func() time.Time) *expectations {
	return &expectations{m: map[string]*expected{}, ttl: ttl, now: now}
}

// expect records that key's sync is about to create adds and delete dels
// pods.
func (e *expectations) expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expected{adds: adds, dels: dels, at: e.now()}
}

// observed lowers key's expectations by adds creations and dels deletions
// seen (or given up on).
func (e *expectations) observed(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds -= adds
		x.dels -= dels
	}
}

// satisfied reports whether key may sync: nothing expected, all seen, or
// the expectations expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && x.dels <= 0) || e.now().Sub(x.at) > e.ttl
}

// forget drops key's expectations.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
