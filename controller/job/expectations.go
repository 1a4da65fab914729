package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
)

// expectationsTimeout is how long a Job waits for pod events it expects
// before syncing anyway (as Kubernetes' ExpectationsTimeout).
const expectationsTimeout = 5 * time.Minute

// expectations counts, per Job, the pod creations and deletions the
// controller made but has not yet seen in the informer: until it has, the
// pod cache is behind and a sync would create or delete pods twice.
type expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expected
}

type expected struct {
	add, del int
	at       time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[string]*expected{}}
}

// satisfied reports whether the Job may sync its pods: nothing is expected,
// or the expectations are too old to trust.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.add <= 0 && x.del <= 0 {
		return true
	}
	return e.now().Sub(x.at) > expectationsTimeout
}

// expect records creations and deletions about to be made.
func (e *expectations) expect(key string, add, del int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expected{add: add, del: del, at: e.now()}
}

func (e *expectations) creationObserved(key string) { e.lower(key, 1, 0) }
func (e *expectations) deletionObserved(key string) { e.lower(key, 0, 1) }

func (e *expectations) lower(key string, add, del int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.add -= add
		x.del -= del
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// finalizerExpectations holds, per Job, the uids of pods whose tracking
// finalizer the controller removed but whose update it has not yet seen:
// those pods are counted already and must not be counted again.
type finalizerExpectations struct {
	mu sync.Mutex
	m  map[string]sets.Set[string]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{m: map[string]sets.Set[string]{}}
}

func (f *finalizerExpectations) expectRemoved(key string, uids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[key]
	if !ok {
		s = sets.New[string]()
		f.m[key] = s
	}
	s.Insert(uids...)
}

func (f *finalizerExpectations) removalObserved(key, uid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.m[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(f.m, key)
		}
	}
}

// expected returns a copy of the uids still expected for a Job.
func (f *finalizerExpectations) expected(key string) sets.Set[string] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[key].Clone()
}

func (f *finalizerExpectations) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}
