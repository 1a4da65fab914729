package cache

import (
	"context"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"berth/store"
)

// watchBuffer is how many events a watcher may lag behind before it is
// closed; the client then resumes from its last resourceVersion.
const watchBuffer = 1024

// event is a change of one object. obj is the new object (for a deletion,
// the last state with the deletion's revision); prev the one before.
type event struct {
	typ        watch.EventType
	key        string
	obj, prev  runtime.Object
	rev        int64
	initialEnd bool // the bookmark ending a watch-list's initial events
}

// watcher turns cache events into watch events for one client.
type watcher struct {
	c         *Cache
	prefix    string
	pred      store.Predicate
	bookmarks bool
	initial   []*event

	in   chan *event
	out  chan watch.Event
	done chan struct{}
	once sync.Once
}

var _ watch.Interface = (*watcher)(nil)

func newWatcher(c *Cache, prefix string, opts store.WatchOptions) *watcher {
	return &watcher{
		c: c, prefix: prefix, pred: opts.Predicate, bookmarks: opts.AllowBookmarks,
		in:   make(chan *event, watchBuffer),
		out:  make(chan watch.Event),
		done: make(chan struct{}),
	}
}

// send hands over an event without blocking; a watcher that lags too far is
// closed and send reports false. The cache's lock is held.
func (w *watcher) send(ev *event) bool {
	select {
	case w.in <- ev:
		return true
	default:
		w.terminate()
		return false
	}
}

// trySend hands over a bookmark if there is room.
func (w *watcher) trySend(ev *event) {
	select {
	case w.in <- ev:
	default:
	}
}

// terminate ends the stream after the events already handed over. The
// cache's lock is held, and the watcher is no longer registered after.
func (w *watcher) terminate() { close(w.in) }

// Stop ends the watch.
func (w *watcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.c.remove(w)
	})
}

// ResultChan returns the events.
func (w *watcher) ResultChan() <-chan watch.Event { return w.out }

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	defer w.Stop()
	for _, ev := range w.initial {
		if !w.emit(ctx, ev) {
			return
		}
	}
	w.initial = nil
	for {
		select {
		case ev, ok := <-w.in:
			if !ok || !w.emit(ctx, ev) {
				return
			}
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// emit sends the watch event for ev, if the watcher's selectors let it
// through, as Kubernetes does: an object that starts matching is ADDED, one
// that stops matching is DELETED.
func (w *watcher) emit(ctx context.Context, ev *event) bool {
	var out watch.Event
	switch ev.typ {
	case watch.Bookmark:
		if !w.bookmarks {
			return true
		}
		obj := w.c.newObj()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true
		}
		m.SetResourceVersion(strconv.FormatInt(ev.rev, 10))
		if ev.initialEnd {
			m.SetAnnotations(map[string]string{store.InitialEventsEndAnnotation: "true"})
		}
		out = watch.Event{Type: watch.Bookmark, Object: obj}
	case watch.Added:
		if !w.pred.Matches(ev.obj) {
			return true
		}
		out = watch.Event{Type: watch.Added, Object: ev.obj}
	case watch.Modified:
		now, before := w.pred.Matches(ev.obj), w.pred.Matches(ev.prev)
		switch {
		case now && before:
			out = watch.Event{Type: watch.Modified, Object: ev.obj}
		case now:
			out = watch.Event{Type: watch.Added, Object: ev.obj}
		case before:
			out = watch.Event{Type: watch.Deleted, Object: ev.obj}
		default:
			return true
		}
	case watch.Deleted:
		if !w.pred.Matches(ev.prev) {
			return true
		}
		out = watch.Event{Type: watch.Deleted, Object: ev.obj}
	}
	select {
	case w.out <- out:
		return true
	case <-w.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// ring keeps the most recent events of a resource.
type ring struct {
	buf   []*event
	start int
	n     int
	// since is the revision after which every event is kept.
	since int64
}

func newRing(size int) ring { return ring{buf: make([]*event, size)} }

func (r *ring) push(ev *event) {
	if r.n == len(r.buf) {
		r.since = r.buf[r.start].rev
		r.buf[r.start] = ev
		r.start = (r.start + 1) % len(r.buf)
		return
	}
	r.buf[(r.start+r.n)%len(r.buf)] = ev
	r.n++
}

func (r *ring) each(fn func(*event)) {
	for i := 0; i < r.n; i++ {
		fn(r.buf[(r.start+i)%len(r.buf)])
	}
}
