package gc

import (
	"context"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth/internal/informer"
)

// monitor watches the metadata of one resource.
type monitor struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
}

// monitors are the running metadata informers, one per resource; their
// events go to the graph's change queue.
type monitors struct {
	md      metadata.Interface
	changes workqueue.TypedInterface[*event]
	logger  *slog.Logger

	mu      sync.Mutex
	running map[schema.GroupVersionResource]*monitor
	stopped bool
	wg      sync.WaitGroup
}

func newMonitors(md metadata.Interface, changes workqueue.TypedInterface[*event], logger *slog.Logger) *monitors {
	return &monitors{md: md, changes: changes, logger: logger, running: map[schema.GroupVersionResource]*monitor{}}
}

// sync starts monitors for new resources (resource → kind) and stops those
// of resources no longer listed. It returns how many were added and
// removed.
func (m *monitors) sync(resources map[schema.GroupVersionResource]string) (added, removed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return 0, 0
	}
	for gvr, mon := range m.running {
		if _, ok := resources[gvr]; !ok {
			close(mon.stop)
			delete(m.running, gvr)
			removed++
		}
	}
	for gvr, kind := range resources {
		if _, ok := m.running[gvr]; ok {
			continue
		}
		mon := m.newMonitor(gvr, gvr.GroupVersion().WithKind(kind))
		m.running[gvr] = mon
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			mon.informer.Run(mon.stop)
		}()
		added++
	}
	return added, removed
}

func (m *monitors) newMonitor(gvr schema.GroupVersionResource, gvk schema.GroupVersionKind) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(m.md, gvr, "", 0, cache.Indexers{}, nil).Informer()
	// The graph needs no managedFields; do not keep them.
	_ = inf.SetTransform(stripManagedFields)
	queue := func(typ eventType, obj, old interface{}) {
		obj, _ = informer.Object[any](obj) // a delete's tombstone
		acc, err := meta.Accessor(obj)
		if err != nil {
			m.logger.Error("object without metadata", "resource", gvr.String(), "err", err)
			return
		}
		e := &event{typ: typ, obj: acc, gvk: gvk}
		if old != nil {
			if o, err := meta.Accessor(old); err == nil {
				e.old = o
			}
		}
		m.changes.Add(e)
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { queue(addEvent, obj, nil) },
		UpdateFunc: func(old, obj interface{}) { queue(updateEvent, obj, old) },
		DeleteFunc: func(obj interface{}) { queue(deleteEvent, obj, nil) },
	})
	return &monitor{informer: inf, stop: make(chan struct{})}
}

// synced reports whether every monitor has listed its resource.
func (m *monitors) synced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.running) == 0 {
		return false
	}
	for _, mon := range m.running {
		if !mon.informer.HasSynced() {
			return false
		}
	}
	return true
}

// waitSynced waits until every monitor has synced or ctx ends.
func (m *monitors) waitSynced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), m.synced)
}

// stopAll stops every monitor and waits for them; sync does nothing after.
func (m *monitors) stopAll() {
	m.mu.Lock()
	m.stopped = true
	for gvr, mon := range m.running {
		close(mon.stop)
		delete(m.running, gvr)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// stripManagedFields drops managedFields from objects before they are
// cached.
func stripManagedFields(obj interface{}) (interface{}, error) {
	if acc, err := meta.Accessor(obj); err == nil && acc.GetManagedFields() != nil {
		acc.SetManagedFields(nil)
	}
	return obj, nil
}
