package generic

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"berth/store"
)

// memStore is an in-memory store.Interface for unit tests and benchmarks.
type memStore struct {
	mu   sync.Mutex
	rev  int64
	objs map[string]runtime.Object
}

func newMemStore() *memStore { return &memStore{objs: map[string]runtime.Object{}} }

func (m *memStore) stamp(obj runtime.Object) runtime.Object {
	m.rev++
	a, _ := meta.Accessor(obj)
	a.SetResourceVersion(strconv.FormatInt(m.rev, 10))
	return obj
}

func (m *memStore) Get(_ context.Context, key string) (runtime.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, store.Errorf(store.ErrNotFound, key)
	}
	return o.DeepCopyObject(), nil
}

func (m *memStore) Create(_ context.Context, key string, obj runtime.Object, _ int64) (runtime.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return nil, store.Errorf(store.ErrExists, key)
	}
	m.objs[key] = m.stamp(obj.DeepCopyObject())
	return m.objs[key].DeepCopyObject(), nil
}

func (m *memStore) Update(_ context.Context, key string, opts store.UpdateOptions, fn store.UpdateFunc) (runtime.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.objs[key]
	if !ok && !opts.CreateMissing {
		return nil, store.Errorf(store.ErrNotFound, key)
	}
	var in runtime.Object
	if ok {
		in = cur.DeepCopyObject()
	}
	next, err := fn(in)
	if err != nil {
		return nil, err
	}
	m.objs[key] = m.stamp(next.DeepCopyObject())
	return m.objs[key].DeepCopyObject(), nil
}

func (m *memStore) Delete(_ context.Context, key string, check func(runtime.Object) error) (runtime.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.objs[key]
	if !ok {
		return nil, store.Errorf(store.ErrNotFound, key)
	}
	if check != nil {
		if err := check(cur); err != nil {
			return nil, err
		}
	}
	delete(m.objs, key)
	return m.stamp(cur), nil
}

func (m *memStore) List(_ context.Context, prefix string, opts store.ListOptions) (*store.ListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &store.ListResult{ResourceVersion: m.rev}
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) && opts.Predicate.Matches(o) {
			out.Items = append(out.Items, o.DeepCopyObject())
		}
	}
	return out, nil
}

func (m *memStore) Watch(context.Context, string, store.WatchOptions) (watch.Interface, error) {
	return watch.NewEmptyWatch(), nil
}
