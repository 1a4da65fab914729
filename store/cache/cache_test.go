package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"berth/store"
	"berth/store/cache"
	"berth/store/etcd"
)

// cmCodec stores ConfigMaps as JSON.
type cmCodec struct{}

func (cmCodec) Encode(obj runtime.Object) ([]byte, error) { return json.Marshal(obj) }
func (cmCodec) Decode(data []byte) (runtime.Object, error) {
	cm := &corev1.ConfigMap{}
	return cm, json.Unmarshal(data, cm)
}

const prefix = "/registry/core/configmaps/"

type env struct {
	cache *cache.Cache
	feed  *cache.Feed
	etcd  *etcd.Embedded
}

func newEnv(t *testing.T, history int) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := etcd.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Close() })
	feed := cache.NewFeed(cache.Config{Client: e.Client(), Root: "/registry/", History: history, BookmarkInterval: 50 * time.Millisecond})
	if err := feed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := etcd.New(e.Client(), cmCodec{}, etcd.NewLeases(e.Client()))
	c, err := feed.Register(ctx, prefix, s, func() runtime.Object { return &corev1.ConfigMap{} })
	if err != nil {
		t.Fatal(err)
	}
	return &env{cache: c, feed: feed, etcd: e}
}

func cm(ns, name string, lbl map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl}, Data: map[string]string{"k": "v"}}
}

func key(ns, name string) string { return prefix + ns + "/" + name }

func rv(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.(metav1.Object).GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateGetUpdateDelete(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	created, err := e.cache.Create(ctx, key("a", "x"), cm("a", "x", nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cache.Create(ctx, key("a", "x"), cm("a", "x", nil), 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	got, err := e.cache.Get(ctx, key("a", "x"))
	if err != nil || rv(t, got) != rv(t, created) {
		t.Fatalf("get: %v, rv %v vs %v", err, got, created)
	}
	updated, err := e.cache.Update(ctx, key("a", "x"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["k"] = "w"
		return c, nil
	})
	if err != nil || rv(t, updated) <= rv(t, created) {
		t.Fatalf("update: %v (rv %d after %d)", err, rv(t, updated), rv(t, created))
	}
	// An update that changes nothing writes nothing.
	same, err := e.cache.Update(ctx, key("a", "x"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
	if err != nil || rv(t, same) != rv(t, updated) {
		t.Fatalf("no-op update moved the resourceVersion: %d -> %d (%v)", rv(t, updated), rv(t, same), err)
	}
	if _, err := e.cache.Update(ctx, key("a", "missing"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of missing: %v", err)
	}
	deleted, err := e.cache.Delete(ctx, key("a", "x"), nil)
	if err != nil || deleted.(*corev1.ConfigMap).Data["k"] != "w" {
		t.Fatalf("delete: %v %v", err, deleted)
	}
	if _, err := e.cache.Get(ctx, key("a", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

// Concurrent updates through the cache (whose copy may be stale) all land.
func TestConcurrentUpdatesAllLand(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	if _, err := e.cache.Create(ctx, key("a", "n"), cm("a", "n", nil), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.cache.Update(ctx, key("a", "n"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
				c := cur.(*corev1.ConfigMap)
				n, _ := strconv.Atoi(c.Data["n"])
				c.Data["n"] = strconv.Itoa(n + 1)
				return c, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := e.cache.Get(ctx, key("a", "n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := got.(*corev1.ConfigMap).Data["n"]; n != "20" {
		t.Fatalf("counter = %s, want 20", n)
	}
}

func TestConsistentListSeesEveryWrite(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if _, err := e.cache.Create(ctx, key("a", fmt.Sprintf("o%02d", i)), cm("a", fmt.Sprintf("o%02d", i), nil), 0); err != nil {
			t.Fatal(err)
		}
		// A list right after a write includes it: the cache waits for etcd's revision.
		res, err := e.cache.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != i+1 {
			t.Fatalf("after %d creates the list has %d items", i+1, len(res.Items))
		}
	}
}

func TestListPagesAndSelectors(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		lbl := map[string]string{"even": strconv.FormatBool(i%2 == 0)}
		if _, err := e.cache.Create(ctx, key("a", fmt.Sprintf("o%02d", i)), cm("a", fmt.Sprintf("o%02d", i), lbl), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cache.Create(ctx, key("b", "other"), cm("b", "other", nil), 0); err != nil {
		t.Fatal(err)
	}
	page1, err := e.cache.List(ctx, prefix+"a/", store.ListOptions{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(page1.Items) != 4 || page1.Continue == "" || page1.RemainingItemCount == nil || *page1.RemainingItemCount != 6 {
		t.Fatalf("page 1: %d items, continue %q, remaining %v", len(page1.Items), page1.Continue, page1.RemainingItemCount)
	}
	// Written after the first page: not part of this list.
	if _, err := e.cache.Create(ctx, key("a", "o99"), cm("a", "o99", nil), 0); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range page1.Items {
		names = append(names, it.(*corev1.ConfigMap).Name)
	}
	token := page1.Continue
	for token != "" {
		page, err := e.cache.List(ctx, prefix+"a/", store.ListOptions{Limit: 4, Continue: token})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion != page1.ResourceVersion {
			t.Fatalf("continued page at rv %d, first at %d", page.ResourceVersion, page1.ResourceVersion)
		}
		for _, it := range page.Items {
			names = append(names, it.(*corev1.ConfigMap).Name)
		}
		token = page.Continue
	}
	if fmt.Sprint(names) != "[o00 o01 o02 o03 o04 o05 o06 o07 o08 o09]" {
		t.Fatalf("pages gave %v", names)
	}
	sel := labels.SelectorFromSet(labels.Set{"even": "true"})
	res, err := e.cache.List(ctx, prefix, store.ListOptions{Predicate: store.Predicate{Label: sel, Attrs: attrs}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 5 {
		t.Fatalf("label selector matched %d, want 5", len(res.Items))
	}
	if _, err := e.cache.List(ctx, prefix, store.ListOptions{Continue: "garbage"}); !errors.Is(err, store.ErrInvalidContinue) {
		t.Fatalf("bad continue token: %v", err)
	}
}

func attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m := obj.(metav1.Object)
	return labels.Set(m.GetLabels()), fields.Set{"metadata.name": m.GetName()}, nil
}

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func TestWatchResumesFromResourceVersion(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	first, _ := e.cache.Create(ctx, key("a", "x"), cm("a", "x", nil), 0)
	second, _ := e.cache.Update(ctx, key("a", "x"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["k"] = "2"
		return cur, nil
	})
	deleted, _ := e.cache.Delete(ctx, key("a", "x"), nil)
	w, err := e.cache.Watch(ctx, prefix, store.WatchOptions{ResourceVersion: strconv.FormatInt(rv(t, first), 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := next(t, w); ev.Type != watch.Modified || rv(t, ev.Object) != rv(t, second) {
		t.Fatalf("first event %s at %d, want MODIFIED at %d", ev.Type, rv(t, ev.Object), rv(t, second))
	}
	if ev := next(t, w); ev.Type != watch.Deleted || rv(t, ev.Object) != rv(t, deleted) {
		t.Fatalf("second event %s at %d, want DELETED at %d", ev.Type, rv(t, ev.Object), rv(t, deleted))
	}
	// New events keep coming.
	created, _ := e.cache.Create(ctx, key("a", "y"), cm("a", "y", nil), 0)
	if ev := next(t, w); ev.Type != watch.Added || rv(t, ev.Object) != rv(t, created) {
		t.Fatalf("live event %s, want ADDED at %d", ev.Type, rv(t, created))
	}
}

func TestWatchTooOldIsExpired(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	first, _ := e.cache.Create(ctx, key("a", "x"), cm("a", "x", nil), 0)
	for i := 0; i < 10; i++ {
		if _, err := e.cache.Update(ctx, key("a", "x"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.ConfigMap).Data["k"] = strconv.Itoa(i)
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the cache to see the last write before asking for history.
	if _, err := e.cache.List(ctx, prefix, store.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.cache.Watch(ctx, prefix, store.WatchOptions{ResourceVersion: strconv.FormatInt(rv(t, first), 10)})
	if !errors.Is(err, store.ErrExpired) {
		t.Fatalf("watch from a resourceVersion beyond the history: %v, want ErrExpired", err)
	}
}

func TestWatchSelectorTransitionsAndInitialState(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	e.cache.Create(ctx, key("a", "x"), cm("a", "x", map[string]string{"app": "web"}), 0)
	e.cache.Create(ctx, key("a", "y"), cm("a", "y", nil), 0)
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	w, err := e.cache.Watch(ctx, prefix, store.WatchOptions{ResourceVersion: "", Predicate: store.Predicate{Label: sel, Attrs: attrs}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := next(t, w); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "x" {
		t.Fatalf("initial event %s %v, want ADDED x", ev.Type, ev.Object)
	}
	// y starts matching: ADDED; x stops matching: DELETED.
	e.cache.Update(ctx, key("a", "y"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Labels = map[string]string{"app": "web"}
		return cur, nil
	})
	if ev := next(t, w); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "y" {
		t.Fatalf("got %s %s, want ADDED y", ev.Type, ev.Object.(*corev1.ConfigMap).Name)
	}
	e.cache.Update(ctx, key("a", "x"), store.UpdateOptions{}, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Labels = nil
		return cur, nil
	})
	if ev := next(t, w); ev.Type != watch.Deleted || ev.Object.(*corev1.ConfigMap).Name != "x" {
		t.Fatalf("got %s %s, want DELETED x", ev.Type, ev.Object.(*corev1.ConfigMap).Name)
	}
}

func TestWatchListEndsWithAnnotatedBookmark(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	e.cache.Create(ctx, key("a", "x"), cm("a", "x", nil), 0)
	yes := true
	w, err := e.cache.Watch(ctx, prefix, store.WatchOptions{SendInitialEvents: &yes, AllowBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := next(t, w); ev.Type != watch.Added {
		t.Fatalf("got %s, want ADDED", ev.Type)
	}
	ev := next(t, w)
	if ev.Type != watch.Bookmark || ev.Object.(metav1.Object).GetAnnotations()[store.InitialEventsEndAnnotation] != "true" {
		t.Fatalf("got %s %v, want the initial-events-end bookmark", ev.Type, ev.Object)
	}
	// Periodic bookmarks follow (the interval is 50ms here).
	if ev := next(t, w); ev.Type != watch.Bookmark {
		t.Fatalf("got %s, want a periodic BOOKMARK", ev.Type)
	}
}

func TestTTLObjectsExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for an etcd lease to expire")
	}
	e := newEnv(t, 100)
	ctx := context.Background()
	// Leases are reused for a minute and granted with a minute's slack, so
	// check the lease is attached rather than waiting for it to run out.
	if _, err := e.cache.Create(ctx, key("a", "t"), cm("a", "t", nil), 5); err != nil {
		t.Fatal(err)
	}
	resp, err := e.etcd.Client().Get(ctx, key("a", "t"))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("object with a TTL has no lease: %v %v", err, resp)
	}
}
