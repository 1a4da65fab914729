package replicaset

import (
	"sync"
	"time"
)

// expectations remember, per ReplicaSet key, the pod creations and
// deletions the controller made and has not yet seen in its informer. A
// ReplicaSet with outstanding expectations is not scaled again (its status
// is still updated) until they are met or expire, as Kubernetes'
// UIDTrackingControllerExpectations: creations are counted, deletions are
// tracked by pod key so that a graceful deletion (an update setting
// deletionTimestamp) and the final delete count once.
type expectations struct {
	mu      sync.Mutex
	timeout time.Duration
	now     func() time.Time
	byKey   map[string]*expectation
}

type expectation struct {
	adds    int
	dels    map[string]bool
	setTime time.Time
}

func newExpectations(timeout time.Duration, now func() time.Time) *expectations {
	return &expectations{timeout: timeout, now: now, byKey: map[string]*expectation{}}
}

// expectCreations records that n pods are being created, replacing what
// was expected before.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expectation{adds: n, setTime: e.now()}
}

// expectDeletions records the pods being deleted, replacing what was
// expected before.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dels := make(map[string]bool, len(podKeys))
	for _, k := range podKeys {
		dels[k] = true
	}
	e.byKey[key] = &expectation{dels: dels, setTime: e.now()}
}

// creationObserved lowers the expected creations by one.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.adds--
	}
}

// deletionObserved marks a pod expected to be deleted as deleted; other
// pods do not count.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.dels, podKey)
	}
}

// satisfied reports whether the ReplicaSet may be scaled: nothing is
// expected, everything expected was seen, or the expectations expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.dels) == 0 {
		return true
	}
	return e.now().Sub(x.setTime) > e.timeout
}

// delete forgets a ReplicaSet.
func (e *expectations) delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
