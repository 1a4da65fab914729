package apiserver

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/apiserver/registry/generic"
)

// Resources is the set of served resources. Resources can be added while
// the server runs (CustomResourceDefinitions); discovery and OpenAPI follow.
type Resources struct {
	mu        sync.RWMutex
	stores    map[schema.GroupVersionResource]*generic.Store
	order     []schema.GroupVersionResource
	listeners []func()
}

// NewResources returns an empty set.
func NewResources() *Resources {
	return &Resources{stores: map[schema.GroupVersionResource]*generic.Store{}}
}

// Add serves a resource (replacing one of the same group, version and
// resource).
func (r *Resources) Add(s *generic.Store) {
	gvr := s.Resource().GroupVersionResource()
	r.mu.Lock()
	if _, ok := r.stores[gvr]; !ok {
		r.order = append(r.order, gvr)
	}
	r.stores[gvr] = s
	listeners := append([]func(){}, r.listeners...)
	r.mu.Unlock()
	for _, fn := range listeners {
		fn()
	}
}

// Remove stops serving a resource.
func (r *Resources) Remove(gvr schema.GroupVersionResource) {
	r.mu.Lock()
	delete(r.stores, gvr)
	for i, g := range r.order {
		if g == gvr {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
	listeners := append([]func(){}, r.listeners...)
	r.mu.Unlock()
	for _, fn := range listeners {
		fn()
	}
}

// Get returns the store of a resource, or nil.
func (r *Resources) Get(gvr schema.GroupVersionResource) *generic.Store {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.stores[gvr]
}

// All returns the stores in the order they were added.
func (r *Resources) All() []*generic.Store {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*generic.Store, 0, len(r.order))
	for _, gvr := range r.order {
		out = append(out, r.stores[gvr])
	}
	return out
}

// OnChange calls fn whenever the set changes.
func (r *Resources) OnChange(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners = append(r.listeners, fn)
}
