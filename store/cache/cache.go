package cache

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/btree"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"berth/store"
	"berth/store/etcd"
)

// Cache holds every object of one resource in memory, kept current by the
// Feed, with a window of recent events. It serves lists and watches from
// memory and passes writes and consistent gets to etcd.
type Cache struct {
	feed   *Feed
	prefix string
	etcd   *etcd.Store
	newObj func() runtime.Object

	mu       sync.RWMutex
	items    *btree.BTreeG[*entry]
	hist     ring
	lastRev  int64 // revision of the last event applied here
	watchers map[*watcher]struct{}
}

var _ store.Interface = (*Cache)(nil)

type entry struct {
	key string
	obj runtime.Object
}

func lessEntry(a, b *entry) bool { return a.key < b.key }

func newCache(f *Feed, prefix string, s *etcd.Store, newObj func() runtime.Object) *Cache {
	return &Cache{
		feed: f, prefix: prefix, etcd: s, newObj: newObj,
		items:    btree.NewG(32, lessEntry),
		hist:     newRing(f.cfg.History),
		watchers: map[*watcher]struct{}{},
	}
}

// fill replaces the cache's content with etcd's at rev, closing watchers.
// The feed's lock is held.
func (c *Cache) fill(ctx context.Context, rev int64) error {
	kvs, rev, err := etcd.ListRaw(ctx, c.feed.cfg.Client, c.prefix, rev)
	if err != nil {
		return err
	}
	items := btree.NewG(32, lessEntry)
	for _, kv := range kvs {
		obj, err := c.etcd.Decode(kv.Value, kv.Rev)
		if err != nil {
			c.feed.cfg.Logger.Error("watch cache: skip undecodable object", "key", kv.Key, "err", err)
			continue
		}
		items.ReplaceOrInsert(&entry{key: kv.Key, obj: obj})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = items
	c.hist = newRing(c.feed.cfg.History)
	c.hist.since = rev
	c.lastRev = rev
	for w := range c.watchers {
		w.terminate()
	}
	c.watchers = map[*watcher]struct{}{}
	return nil
}

func (c *Cache) applyPut(key string, value []byte, rev int64) {
	obj, err := c.etcd.Decode(value, rev)
	if err != nil {
		c.feed.cfg.Logger.Error("watch cache: skip undecodable object", "key", key, "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := &event{typ: watch.Added, key: key, obj: obj, rev: rev}
	if old, ok := c.items.ReplaceOrInsert(&entry{key: key, obj: obj}); ok {
		ev.typ, ev.prev = watch.Modified, old.obj
	}
	c.record(ev)
}

func (c *Cache) applyDelete(key string, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.items.Delete(&entry{key: key})
	if !ok {
		return
	}
	obj := old.obj.DeepCopyObject()
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	c.record(&event{typ: watch.Deleted, key: key, obj: obj, prev: old.obj, rev: rev})
}

// record keeps ev in the history and hands it to the watchers. c.mu is held.
func (c *Cache) record(ev *event) {
	c.lastRev = ev.rev
	c.hist.push(ev)
	for w := range c.watchers {
		if strings.HasPrefix(ev.key, w.prefix) && !w.send(ev) {
			delete(c.watchers, w)
		}
	}
}

func (c *Cache) bookmark(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := &event{typ: watch.Bookmark, rev: max(rev, c.lastRev)}
	for w := range c.watchers {
		if w.bookmarks {
			w.trySend(ev)
		}
	}
}

// rev returns the revision the cache's content stands at. c.mu is held.
func (c *Cache) rev() int64 {
	return max(c.lastRev, c.feed.Rev())
}

// Get returns the object at key as etcd has it now: it waits until the
// cache has caught up with etcd's current revision (which costs a
// count-only read, no data) and answers from memory. The object is shared
// with the cache: callers must not modify it (store.Interface's contract).
// If the cache lags for too long it reads etcd.
func (c *Cache) Get(ctx context.Context, key string) (runtime.Object, error) {
	if _, err := c.feed.waitFresh(ctx); err != nil {
		return c.etcd.Get(ctx, key)
	}
	obj, ok := c.GetCached(key)
	if !ok {
		return nil, store.Errorf(store.ErrNotFound, key)
	}
	return obj, nil
}

// GetCached returns the cache's copy of the object at key, which may lag
// behind etcd. Callers must not modify it.
func (c *Cache) GetCached(key string) (runtime.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.items.Get(&entry{key: key})
	if !ok {
		return nil, false
	}
	return e.obj, true
}

// Create writes to etcd.
func (c *Cache) Create(ctx context.Context, key string, obj runtime.Object, ttl int64) (runtime.Object, error) {
	return c.etcd.Create(ctx, key, obj, ttl)
}

// Update writes to etcd, trying the cached copy as the current object first.
func (c *Cache) Update(ctx context.Context, key string, opts store.UpdateOptions, fn store.UpdateFunc) (runtime.Object, error) {
	c.mu.RLock()
	var hint runtime.Object
	if e, ok := c.items.Get(&entry{key: key}); ok {
		hint = e.obj
	}
	c.mu.RUnlock()
	return c.etcd.Update(ctx, key, opts, hint, fn)
}

// Delete deletes in etcd.
func (c *Cache) Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error) {
	return c.etcd.Delete(ctx, key, check)
}

// List serves from memory, except continued lists and lists at an exact
// revision, which etcd serves. An empty resourceVersion waits until the
// cache has caught up with etcd (a consistent read).
func (c *Cache) List(ctx context.Context, prefix string, opts store.ListOptions) (*store.ListResult, error) {
	if opts.Continue != "" || opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
		return c.etcd.List(ctx, prefix, opts)
	}
	switch opts.ResourceVersion {
	case "":
		if _, err := c.feed.waitFresh(ctx); err != nil {
			c.feed.cfg.Logger.Warn("watch cache behind; listing from etcd", "prefix", prefix, "err", err)
			return c.etcd.List(ctx, prefix, opts)
		}
	case "0":
	default:
		rev, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || rev < 0 {
			return nil, fmt.Errorf("%w: %q", store.ErrInvalidResourceVersion, opts.ResourceVersion)
		}
		if err := c.feed.waitRev(ctx, rev); err != nil {
			return nil, err
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	rev := c.rev()
	out := &store.ListResult{ResourceVersion: rev}
	var remaining int64
	var lastKey string
	more := false
	c.items.AscendGreaterOrEqual(&entry{key: prefix}, func(e *entry) bool {
		if !strings.HasPrefix(e.key, prefix) {
			return false
		}
		if !opts.Predicate.Matches(e.obj) {
			return true
		}
		if opts.Limit > 0 && int64(len(out.Items)) >= opts.Limit {
			more = true
			if !opts.Predicate.Empty() {
				return false
			}
			remaining++
			return true
		}
		out.Items = append(out.Items, e.obj)
		lastKey = e.key
		return true
	})
	if more {
		token, err := store.EncodeContinue(lastKey+"\x00", prefix, rev)
		if err != nil {
			return nil, err
		}
		out.Continue = token
		if opts.Predicate.Empty() {
			out.RemainingItemCount = &remaining
		}
	}
	return out, nil
}

// Watch streams the events under prefix, from the history or from the
// current content of the cache.
func (c *Cache) Watch(ctx context.Context, prefix string, opts store.WatchOptions) (watch.Interface, error) {
	initial := opts.ResourceVersion == "" || opts.ResourceVersion == "0"
	var from int64
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	if opts.ResourceVersion == "" {
		// "The most recent" state is what etcd has now: wait for it.
		if _, err := c.feed.waitFresh(ctx); err != nil {
			return nil, err
		}
	} else if opts.ResourceVersion != "0" {
		var err error
		from, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || from < 0 {
			return nil, fmt.Errorf("%w: %q", store.ErrInvalidResourceVersion, opts.ResourceVersion)
		}
		if err := c.feed.waitRev(ctx, from); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := newWatcher(c, prefix, opts)
	rev := c.rev()
	if initial {
		c.items.AscendGreaterOrEqual(&entry{key: prefix}, func(e *entry) bool {
			if !strings.HasPrefix(e.key, prefix) {
				return false
			}
			w.initial = append(w.initial, &event{typ: watch.Added, key: e.key, obj: e.obj})
			return true
		})
		if opts.SendInitialEvents != nil && *opts.SendInitialEvents && opts.AllowBookmarks {
			w.initial = append(w.initial, &event{typ: watch.Bookmark, rev: rev, initialEnd: true})
		}
	} else if from > 0 {
		if from < c.hist.since {
			return nil, fmt.Errorf("%w: %d (%d)", store.ErrExpired, from, c.hist.since+1)
		}
		c.hist.each(func(ev *event) {
			if ev.rev > from && strings.HasPrefix(ev.key, prefix) {
				w.initial = append(w.initial, ev)
			}
		})
	}
	c.watchers[w] = struct{}{}
	go w.run(ctx)
	return w, nil
}

// remove forgets a watcher that stopped.
func (c *Cache) remove(w *watcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.watchers, w)
}
