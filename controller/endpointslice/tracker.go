package endpointslice

import (
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice the controller deleted.
const deletionExpected = -1

// tracker remembers the generation of every slice the controller wrote,
// by Service, to tell when the informer cache is behind its own writes
// (and a sync would act on stale slices, e.g. create duplicates).
type tracker struct {
	mu   sync.Mutex
	gens map[string]map[types.UID]int64 // by Service key
}

func newTracker() *tracker { return &tracker{gens: map[string]map[types.UID]int64{}} }

func (t *tracker) set(slice *discoveryv1.EndpointSlice, gen int64) {
	key, err := serviceKeyOf(slice)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gens[key] == nil {
		t.gens[key] = map[types.UID]int64{}
	}
	t.gens[key][slice.UID] = gen
}

// update records a slice the controller created or updated.
func (t *tracker) update(slice *discoveryv1.EndpointSlice) { t.set(slice, slice.Generation) }

// expectDeletion records a slice the controller deleted.
func (t *tracker) expectDeletion(slice *discoveryv1.EndpointSlice) { t.set(slice, deletionExpected) }

// has reports whether the controller wrote a slice.
func (t *tracker) has(slice *discoveryv1.EndpointSlice) bool {
	key, err := serviceKeyOf(slice)
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.gens[key][slice.UID]
	return ok
}

// shouldSync reports whether a slice event is news: not the result of
// the controller's own last write.
func (t *tracker) shouldSync(slice *discoveryv1.EndpointSlice) bool {
	key, err := serviceKeyOf(slice)
	if err != nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.gens[key][slice.UID]
	return !ok || g != slice.Generation
}

// handleDeletion forgets a deleted slice; false when the controller did
// not delete it (so the Service needs a sync).
func (t *tracker) handleDeletion(slice *discoveryv1.EndpointSlice) bool {
	key, err := serviceKeyOf(slice)
	if err != nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.gens[key][slice.UID]
	delete(t.gens[key], slice.UID)
	return ok && g == deletionExpected
}

// stale reports whether the cached slices of a Service are older than the
// controller's writes: a slice it updated has an older generation, one it
// deleted is still there, or one it created is missing.
func (t *tracker) stale(serviceKey string, slices []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gens, ok := t.gens[serviceKey]
	if !ok {
		return false
	}
	seen := map[types.UID]bool{}
	for _, s := range slices {
		seen[s.UID] = true
		if g, ok := gens[s.UID]; ok && (g == deletionExpected || g > s.Generation) {
			return true
		}
	}
	for uid, g := range gens {
		if g != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// deleteService forgets a Service.
func (t *tracker) deleteService(serviceKey string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.gens, serviceKey)
}
