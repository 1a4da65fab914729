package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"berth/server"
)

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"k": "v"}}
}

// expectWatchEvent reads the next event and checks its type and object.
func expectWatchEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) *corev1.ConfigMap {
	t.Helper()
	ev := nextEvent(t, w)
	if ev.Type != typ {
		t.Fatalf("watch event %s (%v), want %s %s", ev.Type, describe(ev.Object), typ, name)
	}
	cm, ok := ev.Object.(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("watch event %s carries %T, want a ConfigMap", ev.Type, ev.Object)
	}
	if cm.Name != name {
		t.Fatalf("watch event %s for %q, want %q", ev.Type, cm.Name, name)
	}
	return cm
}

func describe(obj any) string {
	if st, ok := obj.(*metav1.Status); ok {
		return fmt.Sprintf("Status %d %s: %s", st.Code, st.Reason, st.Message)
	}
	if m, ok := obj.(metav1.Object); ok {
		return fmt.Sprintf("%T %s rv %s", obj, m.GetName(), m.GetResourceVersion())
	}
	return fmt.Sprintf("%T", obj)
}

// TestWatch covers the watch protocol on one server.
func TestWatch(t *testing.T) {
	t.Parallel()
	s := start(t)

	t.Run("EventsInOrderAndResume", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ns := newNamespace(t, s)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()

		created, err := cms.Create(ctx, configMap("a", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		upd := created.DeepCopy()
		upd.Data["k"] = "v2"
		updated, err := cms.Update(ctx, upd, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}

		added := expectWatchEvent(t, w, watch.Added, "a")
		modified := expectWatchEvent(t, w, watch.Modified, "a")
		deleted := expectWatchEvent(t, w, watch.Deleted, "a")
		if added.ResourceVersion != created.ResourceVersion {
			t.Errorf("ADDED rv %s, want the create's %s", added.ResourceVersion, created.ResourceVersion)
		}
		if modified.ResourceVersion != updated.ResourceVersion || modified.Data["k"] != "v2" {
			t.Errorf("MODIFIED rv %s data %v, want rv %s data v2", modified.ResourceVersion, modified.Data, updated.ResourceVersion)
		}
		r1, r2, r3 := rvInt(t, added.ResourceVersion), rvInt(t, modified.ResourceVersion), rvInt(t, deleted.ResourceVersion)
		if !(rvInt(t, list.ResourceVersion) < r1 && r1 < r2 && r2 < r3) {
			t.Errorf("resourceVersions not increasing: list %s, %d %d %d", list.ResourceVersion, r1, r2, r3)
		}
		if deleted.Data["k"] != "v2" {
			t.Errorf("DELETED carries data %v, want the last state", deleted.Data)
		}

		// Resuming from the ADDED event's resourceVersion replays exactly
		// what followed it.
		if _, err := cms.Create(ctx, configMap("b", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w2, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: added.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Stop()
		if got := expectWatchEvent(t, w2, watch.Modified, "a"); got.ResourceVersion != modified.ResourceVersion {
			t.Errorf("resumed MODIFIED rv %s, want %s", got.ResourceVersion, modified.ResourceVersion)
		}
		if got := expectWatchEvent(t, w2, watch.Deleted, "a"); got.ResourceVersion != deleted.ResourceVersion {
			t.Errorf("resumed DELETED rv %s, want %s", got.ResourceVersion, deleted.ResourceVersion)
		}
		expectWatchEvent(t, w2, watch.Added, "b")
		// Nothing is repeated: the next event is the next change.
		if _, err := cms.Create(ctx, configMap("c", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		expectWatchEvent(t, w2, watch.Added, "c")
		expectWatchEvent(t, w, watch.Added, "b")
		expectWatchEvent(t, w, watch.Added, "c")
	})

	t.Run("FromZeroAndEmptyListsCurrentObjects", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ns := newNamespace(t, s)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		for _, n := range []string{"a", "b"} {
			if _, err := cms.Create(ctx, configMap(n, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, rv := range []string{"0", ""} {
			w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				t.Fatal(err)
			}
			expectWatchEvent(t, w, watch.Added, "a")
			expectWatchEvent(t, w, watch.Added, "b")
			if _, err := cms.Create(ctx, configMap("c"+rv, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			expectWatchEvent(t, w, watch.Added, "c"+rv)
			w.Stop()
			if err := cms.Delete(ctx, "c"+rv, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("LabelSelector", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ns := newNamespace(t, s)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		if _, err := cms.Create(ctx, configMap("before", map[string]string{"app": "a"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "app=a", ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectWatchEvent(t, w, watch.Added, "before")
		if _, err := cms.Create(ctx, configMap("other", map[string]string{"app": "b"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		x, err := cms.Create(ctx, configMap("x", map[string]string{"app": "a"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expectWatchEvent(t, w, watch.Added, "x")
		// Leaving the selector is a DELETED event with the new state.
		x.Labels["app"] = "b"
		if x, err = cms.Update(ctx, x, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := expectWatchEvent(t, w, watch.Deleted, "x"); got.Labels["app"] != "b" || got.ResourceVersion != x.ResourceVersion {
			t.Errorf("DELETED on leaving the selector: labels %v rv %s, want app=b rv %s", got.Labels, got.ResourceVersion, x.ResourceVersion)
		}
		// A change outside the selector is not seen; coming back is ADDED.
		x.Data["k"] = "other"
		if x, err = cms.Update(ctx, x, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		x.Labels["app"] = "a"
		if _, err = cms.Update(ctx, x, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		expectWatchEvent(t, w, watch.Added, "x")
		if err := cms.Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expectWatchEvent(t, w, watch.Deleted, "x")
	})

	t.Run("FieldSelector", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ns := newNamespace(t, s)
		pods := s.Client.CoreV1().Pods(ns)
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := pods.Create(ctx, pod("elsewhere", "node-2"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Create(ctx, pod("here", "node-1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, w)
		if p, ok := ev.Object.(*corev1.Pod); ev.Type != watch.Added || !ok || p.Name != "here" {
			t.Fatalf("got %s %s, want ADDED pod here", ev.Type, describe(ev.Object))
		}
		// Leaving the field selector through status is a DELETED event.
		w2, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "status.phase=Pending", ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Stop()
		seen := map[string]bool{}
		for range 2 {
			ev := nextEvent(t, w2)
			if ev.Type != watch.Added {
				t.Fatalf("got %s, want ADDED", ev.Type)
			}
			seen[ev.Object.(*corev1.Pod).Name] = true
		}
		if !seen["here"] || !seen["elsewhere"] {
			t.Fatalf("initial events for %v, want here and elsewhere", seen)
		}
		p, err := pods.Get(ctx, "here", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev = nextEvent(t, w2)
		if got, ok := ev.Object.(*corev1.Pod); ev.Type != watch.Deleted || !ok || got.Name != "here" || got.Status.Phase != corev1.PodRunning {
			t.Fatalf("got %s %s, want DELETED pod here (Running)", ev.Type, describe(ev.Object))
		}
		// The nodeName watch sees the change as MODIFIED.
		ev = nextEvent(t, w)
		if got, ok := ev.Object.(*corev1.Pod); ev.Type != watch.Modified || !ok || got.Name != "here" {
			t.Fatalf("got %s %s, want MODIFIED pod here", ev.Type, describe(ev.Object))
		}
	})

	t.Run("UnknownFieldSelector", func(t *testing.T) {
		t.Parallel()
		_, err := s.Client.CoreV1().ConfigMaps("default").Watch(ctxFor(t), metav1.ListOptions{FieldSelector: "data.k=v"})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, `"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"`)
	})

	t.Run("SendInitialEvents", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ns := newNamespace(t, s)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		for _, n := range []string{"a", "b", "c"} {
			if _, err := cms.Create(ctx, configMap(n, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{
			SendInitialEvents:    ptr.To(true),
			AllowWatchBookmarks:  true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		for _, n := range []string{"a", "b", "c"} {
			expectWatchEvent(t, w, watch.Added, n)
		}
		ev := nextEvent(t, w)
		if ev.Type != watch.Bookmark {
			t.Fatalf("after the initial events got %s %s, want BOOKMARK", ev.Type, describe(ev.Object))
		}
		bm := ev.Object.(*corev1.ConfigMap)
		if bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
			t.Errorf("bookmark annotations %v, want %s=true", bm.Annotations, metav1.InitialEventsAnnotationKey)
		}
		if rvInt(t, bm.ResourceVersion) < rvInt(t, list.ResourceVersion) {
			t.Errorf("bookmark rv %s older than the list's %s", bm.ResourceVersion, list.ResourceVersion)
		}
		if bm.Name != "" || len(bm.Data) != 0 {
			t.Errorf("bookmark carries more than a resourceVersion: %+v", bm)
		}
		if _, err := cms.Create(ctx, configMap("d", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		expectWatchEvent(t, w, watch.Added, "d")
	})

	t.Run("SendInitialEventsRequiresNotOlderThan", func(t *testing.T) {
		t.Parallel()
		_, err := s.Client.CoreV1().ConfigMaps("default").Watch(ctxFor(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid,
			`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan`)
		expectCause(t, st, metav1.CauseTypeForbidden, "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
	})
}

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
}

// TestWatchGone provokes 410 Gone with a small watch history.
func TestWatchGone(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *server.Config) { c.WatchHistory = 5 })
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	first, err := cms.Create(ctx, configMap("first", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("cm-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v (Kubernetes answers 200 and an ERROR event)", err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok {
		t.Fatalf("got %s %s, want an ERROR event with a Status", ev.Type, describe(ev.Object))
	}
	if st.Code != 410 || st.Reason != metav1.StatusReasonExpired || st.Status != metav1.StatusFailure {
		t.Errorf("status %d %s %s, want 410 Expired Failure", st.Code, st.Reason, st.Status)
	}
	if want := "too old resource version: " + first.ResourceVersion + " ("; !strings.HasPrefix(st.Message, want) {
		t.Errorf("message %q, want prefix %q", st.Message, want)
	}
	// The stream ends after the error.
	select {
	case _, open := <-w.ResultChan():
		if open {
			t.Error("watch delivered more after the 410")
		}
	case <-time.After(10 * time.Second):
		t.Error("watch did not end after the 410")
	}
	// A recent resourceVersion still works.
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if _, err := cms.Create(ctx, configMap("last", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectWatchEvent(t, w2, watch.Added, "last")
}

// TestWatchBookmarks checks periodic bookmarks go only to watches that ask.
func TestWatchBookmarks(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *server.Config) { c.BookmarkInterval = 100 * time.Millisecond })
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	with, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer with.Stop()
	without, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer without.Stop()
	var last int64
	for i := range 3 {
		ev := nextEvent(t, with)
		if ev.Type != watch.Bookmark {
			t.Fatalf("event %d: got %s, want BOOKMARK", i, ev.Type)
		}
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok {
			t.Fatalf("bookmark carries %T, want *v1.ConfigMap", ev.Object)
		}
		rv := rvInt(t, cm.ResourceVersion)
		if rv < rvInt(t, list.ResourceVersion) || rv < last {
			t.Errorf("bookmark rv %d went back (list %s, previous %d)", rv, list.ResourceVersion, last)
		}
		last = rv
		if i == 1 {
			if _, err := cms.Create(ctx, configMap("x", nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// Bookmarks come every 100ms: one may come first.
			for {
				ev := nextEvent(t, with)
				if ev.Type == watch.Bookmark {
					continue
				}
				if cm, ok := ev.Object.(*corev1.ConfigMap); ev.Type != watch.Added || !ok || cm.Name != "x" {
					t.Fatalf("watch event %s %T, want ADDED x", ev.Type, ev.Object)
				}
				break
			}
		}
	}
	// Several bookmark intervals passed; the watch without bookmarks saw
	// only the change.
	expectWatchEvent(t, without, watch.Added, "x")
	if _, err := cms.Create(ctx, configMap("y", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectWatchEvent(t, without, watch.Added, "y")
}

// TestWatchUnderLoad writes continuously while one watch follows every
// change and another keeps stopping and resuming from the last
// resourceVersion it saw: both must see exactly the writes, in order.
func TestWatchUnderLoad(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	follow, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Stop()

	const objects, rounds = 5, 40
	written := make(chan string, objects*(rounds+2))
	errc := make(chan error, objects)
	for i := range objects {
		go func() {
			name := fmt.Sprintf("load-%d", i)
			cm, err := cms.Create(ctx, configMap(name, nil), metav1.CreateOptions{})
			if err != nil {
				errc <- err
				return
			}
			written <- cm.ResourceVersion
			for r := range rounds {
				cm.Data["k"] = fmt.Sprint(r)
				if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					errc <- err
					return
				}
				written <- cm.ResourceVersion
			}
			errc <- nil
		}()
	}
	total := objects * (rounds + 1)

	// The resuming watcher.
	resumed := make(chan []string, 1)
	go func() {
		var seen []string
		rv := list.ResourceVersion
		for len(seen) < total && ctx.Err() == nil {
			w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				break
			}
			for n := 0; n < 37 && len(seen) < total; n++ {
				ev, ok := <-w.ResultChan()
				if !ok {
					break
				}
				m := ev.Object.(metav1.Object)
				seen = append(seen, m.GetResourceVersion())
				rv = m.GetResourceVersion()
			}
			w.Stop()
		}
		resumed <- seen
	}()

	var followed []string
	for len(followed) < total {
		ev := nextEvent(t, follow)
		if ev.Type != watch.Added && ev.Type != watch.Modified {
			t.Fatalf("unexpected %s event", ev.Type)
		}
		followed = append(followed, ev.Object.(*corev1.ConfigMap).ResourceVersion)
	}
	for range objects {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	close(written)
	want := map[string]bool{}
	for rv := range written {
		want[rv] = true
	}
	check := func(what string, got []string) {
		t.Helper()
		if len(got) != total {
			t.Errorf("%s saw %d events, want %d", what, len(got), total)
		}
		seen := map[string]bool{}
		var last int64
		for _, rv := range got {
			n := rvInt(t, rv)
			if n <= last {
				t.Errorf("%s: resourceVersion %d after %d", what, n, last)
			}
			last = n
			if !want[rv] || seen[rv] {
				t.Errorf("%s: event rv %s unexpected or repeated", what, rv)
			}
			seen[rv] = true
		}
	}
	check("following watch", followed)
	select {
	case got := <-resumed:
		check("resuming watch", got)
	case <-ctx.Done():
		t.Fatal("resuming watch did not finish")
	}
}
