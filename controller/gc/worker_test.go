package gc

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// setup stores objs in a fake API and shows them to the graph.
func setup(t *testing.T, objs ...*metav1.PartialObjectMetadata) (*Controller, *fakeMetadata) {
	t.Helper()
	md := newFakeMetadata()
	c, _ := newTestController(t, md)
	for _, o := range objs {
		md.add(configMaps, o)
		observe(c, addEvent, md.get(configMaps, o.Namespace, o.Name), nil)
	}
	return c, md
}

// An owner that exists but has not reached the informers yet is never
// taken for absent: its dependent stays, and the owner is checked again.
func TestUnobservedOwnerKeepsDependent(t *testing.T) {
	c, md := setup(t, object("ns", "dep", "d1", owner("own", "o1", true)))
	md.add(configMaps, object("ns", "own", "o1")) // in the API, not in the graph
	ctx := context.Background()
	if err := c.syncDelete(ctx, "o1"); !errors.Is(err, errNotObserved) {
		t.Fatalf("virtual owner sync: %v, want a retry", err)
	}
	if err := c.syncDelete(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if len(md.deletes) != 0 {
		t.Fatalf("deleted %v", md.deletes)
	}
}

// A dependent whose owner is absent (or exists with another uid) is
// deleted, with the uid and resourceVersion as preconditions.
func TestAbsentOwnerDeletesDependent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		owner *metav1.PartialObjectMetadata
	}{
		{"owner missing", nil},
		{"owner replaced", object("ns", "own", "other-uid")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, md := setup(t, object("ns", "dep", "d1", owner("own", "o1", true)))
			if tc.owner != nil {
				md.add(configMaps, tc.owner)
			}
			ctx := context.Background()
			// The virtual owner is found absent; the graph queues its
			// dependent.
			if err := c.syncDelete(ctx, "o1"); err != nil {
				t.Fatal(err)
			}
			if n := drainChanges(c); n != 1 {
				t.Fatalf("%d virtual events, want 1", n)
			}
			if _, ok := c.graph.view("o1"); ok {
				t.Fatal("absent owner still in the graph")
			}
			if err := c.syncDelete(ctx, "d1"); err != nil {
				t.Fatal(err)
			}
			want := []deleteCall{{gvr: configMaps, ns: "ns", name: "dep", uid: "d1", policy: metav1.DeletePropagationBackground}}
			if !reflect.DeepEqual(md.deletes, want) {
				t.Fatalf("deletes %+v, want %+v", md.deletes, want)
			}
		})
	}
}

// With one owner left, references to absent owners and to owners deleting
// their dependents in the foreground are removed instead.
func TestSolidOwnerKeepsDependent(t *testing.T) {
	c, md := setup(t,
		object("ns", "alive", "a1"),
		deleting(object("ns", "waiting", "w1"), metav1.FinalizerDeleteDependents),
		object("ns", "dep", "d1", owner("alive", "a1", false), owner("gone", "g1", false), owner("waiting", "w1", true)),
	)
	if err := c.syncDelete(context.Background(), "d1"); err != nil {
		t.Fatal(err)
	}
	if len(md.deletes) != 0 {
		t.Fatalf("deleted %v", md.deletes)
	}
	dep := md.get(configMaps, "ns", "dep")
	if len(dep.OwnerReferences) != 1 || dep.OwnerReferences[0].UID != "a1" {
		t.Errorf("owner references %v, want only the existing owner", dep.OwnerReferences)
	}
}

// A dependent of an owner deleted in the foreground is deleted in the
// foreground itself when it has dependents (so the chain goes in order),
// in the background otherwise.
func TestDependentOfForegroundOwner(t *testing.T) {
	c, md := setup(t,
		deleting(object("ns", "top", "t1"), metav1.FinalizerDeleteDependents),
		object("ns", "mid", "m1", owner("top", "t1", true)),
		object("ns", "leaf", "l1", owner("mid", "m1", true)),
		object("ns", "other", "x1", owner("top", "t1", true)),
	)
	ctx := context.Background()
	for _, uid := range []string{"m1", "x1"} {
		if err := c.syncDelete(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	want := []deleteCall{
		{gvr: configMaps, ns: "ns", name: "mid", uid: "m1", policy: metav1.DeletePropagationForeground},
		{gvr: configMaps, ns: "ns", name: "other", uid: "x1", policy: metav1.DeletePropagationBackground},
	}
	if !reflect.DeepEqual(md.deletes, want) {
		t.Fatalf("deletes %+v, want %+v", md.deletes, want)
	}
}

// An owner deleting its dependents keeps its finalizer while a dependent
// blocks it, queueing that dependent; then the finalizer goes.
func TestForegroundFinalizer(t *testing.T) {
	top := deleting(object("ns", "top", "t1"), metav1.FinalizerDeleteDependents, "example.com/keep")
	dep := object("ns", "dep", "d1", owner("top", "t1", true))
	c, md := setup(t, top, dep)
	ctx := context.Background()
	queued := c.deletes.Len()
	if err := c.syncDelete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := md.get(configMaps, "ns", "top").Finalizers; len(got) != 2 {
		t.Fatalf("finalizers %v removed while a dependent blocks", got)
	}
	if c.deletes.Len() != queued+1 {
		t.Fatalf("%d queued, want the blocking dependent added to %d", c.deletes.Len(), queued)
	}
	observe(c, deleteEvent, dep, nil)
	if err := c.syncDelete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := md.get(configMaps, "ns", "top").Finalizers; !reflect.DeepEqual(got, []string{"example.com/keep"}) {
		t.Fatalf("finalizers %v, want the other finalizer only", got)
	}
}

// Orphaning removes the references to the owner from its dependents, then
// the orphan finalizer.
func TestOrphan(t *testing.T) {
	c, md := setup(t,
		deleting(object("ns", "own", "o1"), metav1.FinalizerOrphanDependents),
		object("ns", "a", "a1", owner("own", "o1", true)),
		object("ns", "b", "b1", owner("own", "o1", true), owner("x", "x1", false)),
	)
	if err := c.syncOrphan(context.Background(), "o1"); err != nil {
		t.Fatal(err)
	}
	if refs := md.get(configMaps, "ns", "a").OwnerReferences; len(refs) != 0 {
		t.Errorf("a keeps %v", refs)
	}
	if refs := md.get(configMaps, "ns", "b").OwnerReferences; len(refs) != 1 || refs[0].UID != "x1" {
		t.Errorf("b keeps %v", refs)
	}
	if f := md.get(configMaps, "ns", "own").Finalizers; len(f) != 0 {
		t.Errorf("owner keeps finalizers %v", f)
	}
	if len(md.deletes) != 0 {
		t.Errorf("deleted %v", md.deletes)
	}
}

// A cluster-scoped object referring to a namespaced owner is left alone;
// retrying would not help.
func TestClusterScopedDependentOfNamespacedOwner(t *testing.T) {
	md := newFakeMetadata()
	c, _ := newTestController(t, md)
	cr := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: "cr", UID: "c1", OwnerReferences: []metav1.OwnerReference{owner("own", "o1", false)}},
	}
	md.add(clusterRoles, cr)
	c.graph.process(&event{typ: addEvent, obj: md.get(clusterRoles, "", "cr"), gvk: cr.GroupVersionKind()})
	if err := c.syncDelete(context.Background(), "c1"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(md.deletes) != 0 {
		t.Errorf("deleted %v", md.deletes)
	}
}

func TestInvalidNamespaceEvent(t *testing.T) {
	md := newFakeMetadata()
	c, rec := newTestController(t, md)
	observe(c, addEvent, object("a", "own", "o1"), nil)
	observe(c, addEvent, object("b", "dep", "d1", owner("own", "o1", false)), nil)
	select {
	case e := <-rec.Events:
		want := `Warning OwnerRefInvalidNamespace ownerRef [v1/ConfigMap, namespace: b, name: own, uid: o1] does not exist in namespace "b"`
		if !strings.HasPrefix(e, want) {
			t.Errorf("event %q, want %q", e, want)
		}
	default:
		t.Fatal("no event")
	}
}

func TestPatches(t *testing.T) {
	p, err := ownerRefsPatch(types.UID("u"), "7", nil)
	if err != nil || string(p) != `{"metadata":{"uid":"u","resourceVersion":"7","ownerReferences":[]}}` {
		t.Errorf("owner references patch %s, %v", p, err)
	}
	p, err = finalizersPatch(types.UID("u"), "7", nil)
	if err != nil || string(p) != `{"metadata":{"uid":"u","resourceVersion":"7","finalizers":null}}` {
		t.Errorf("finalizers patch %s, %v", p, err)
	}
}
