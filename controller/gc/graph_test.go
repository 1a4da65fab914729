package gc

import (
	"reflect"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// recorder is a sink that remembers what the graph asked for.
type recorder struct {
	deletes, later, orphans []types.UID
	invalid                 []string // dependent name → owner name
}

func (r *recorder) attemptToDelete(uid types.UID, later bool) {
	if later {
		r.later = append(r.later, uid)
		return
	}
	r.deletes = append(r.deletes, uid)
}
func (r *recorder) attemptToOrphan(uid types.UID) { r.orphans = append(r.orphans, uid) }
func (r *recorder) invalidNamespace(dep ref, o metav1.OwnerReference) {
	r.invalid = append(r.invalid, dep.Name+"→"+o.Name)
}
func (r *recorder) reset() { *r = recorder{} }

func deleting(m *metav1.PartialObjectMetadata, finalizers ...string) *metav1.PartialObjectMetadata {
	m = m.DeepCopy()
	now := metav1.Now()
	m.DeletionTimestamp = &now
	m.Finalizers = finalizers
	return m
}

func ev(typ eventType, obj, old *metav1.PartialObjectMetadata) *event {
	e := &event{typ: typ, obj: obj, gvk: cmKind}
	if old != nil {
		e.old = old
	}
	return e
}

func newTestGraph() (*graph, *recorder) {
	r := &recorder{}
	return newGraph(newAbsentCache(10), r), r
}

func dependentsOf(g *graph, uid types.UID) []string {
	v, ok := g.view(uid)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range v.dependents {
		out = append(out, d.id.Name)
	}
	slices.Sort(out)
	return out
}

// A dependent seen before its owner makes a virtual owner, queued to be
// verified; the owner seen later replaces it and keeps the dependents.
func TestGraphVirtualOwner(t *testing.T) {
	g, r := newTestGraph()
	g.process(ev(addEvent, object("ns", "dep", "d1", owner("own", "o1", true)), nil))
	v, ok := g.view("o1")
	if !ok || !v.virtual || v.id.Name != "own" || v.id.Namespace != "ns" {
		t.Fatalf("virtual owner = %+v, %v", v, ok)
	}
	if !reflect.DeepEqual(r.deletes, []types.UID{"o1"}) {
		t.Fatalf("queued %v, want the virtual owner", r.deletes)
	}
	r.reset()
	g.process(ev(addEvent, object("ns", "own", "o1"), nil))
	v, _ = g.view("o1")
	if v.virtual {
		t.Error("observed owner still virtual")
	}
	if got := dependentsOf(g, "o1"); !reflect.DeepEqual(got, []string{"dep"}) {
		t.Errorf("dependents = %v", got)
	}
	if len(r.deletes)+len(r.invalid) != 0 {
		t.Errorf("matching owner queued %v, reported %v", r.deletes, r.invalid)
	}
	if v, ok := g.view("d1"); !ok || len(v.dependents) != 0 || v.virtual {
		t.Errorf("dependent node = %+v, %v", v, ok)
	}
}

// A namespaced owner cannot own objects of another namespace: the
// dependent is reported and queued, whichever is seen first.
func TestGraphInvalidNamespace(t *testing.T) {
	for _, ownerFirst := range []bool{true, false} {
		g, r := newTestGraph()
		own := ev(addEvent, object("a", "own", "o1"), nil)
		dep := ev(addEvent, object("b", "dep", "d1", owner("own", "o1", false)), nil)
		if ownerFirst {
			g.process(own)
			g.process(dep)
		} else {
			g.process(dep)
			g.process(own)
		}
		if !reflect.DeepEqual(r.invalid, []string{"dep→own"}) {
			t.Errorf("ownerFirst=%v: reported %v", ownerFirst, r.invalid)
		}
		if !slices.Contains(r.deletes, "d1") {
			t.Errorf("ownerFirst=%v: dependent not queued: %v", ownerFirst, r.deletes)
		}
	}
}

// An owner's deletion queues its dependents and remembers it as absent;
// owners waiting in the foreground for the deleted object are queued.
func TestGraphDelete(t *testing.T) {
	g, r := newTestGraph()
	g.process(ev(addEvent, object("ns", "own", "o1"), nil))
	g.process(ev(addEvent, object("ns", "mid", "m1", owner("own", "o1", true)), nil))
	g.process(ev(addEvent, object("ns", "leaf", "l1", owner("mid", "m1", true)), nil))
	fg := deleting(object("ns", "own", "o1"), metav1.FinalizerDeleteDependents)
	r.reset()
	g.process(ev(updateEvent, fg, object("ns", "own", "o1")))
	if v, _ := g.view("o1"); !v.deletingDependents || !v.beingDeleted {
		t.Fatalf("foreground owner = %+v", v)
	}
	if !reflect.DeepEqual(r.deletes, []types.UID{"m1", "o1"}) {
		t.Fatalf("foreground deletion queued %v, want dependents then owner", r.deletes)
	}
	r.reset()
	g.process(ev(deleteEvent, object("ns", "mid", "m1", owner("own", "o1", true)), nil))
	if _, ok := g.view("m1"); ok {
		t.Error("deleted node still in the graph")
	}
	if !reflect.DeepEqual(r.deletes, []types.UID{"l1", "o1"}) {
		t.Errorf("deletion queued %v, want the dependent and the waiting owner", r.deletes)
	}
	if !g.absent.has(ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "mid", UID: "m1"}) {
		t.Error("deleted owner not remembered as absent")
	}
	if got := dependentsOf(g, "o1"); len(got) != 0 {
		t.Errorf("owner keeps dependents %v", got)
	}
}

// Deletion with the orphan finalizer queues the owner for orphaning, once.
func TestGraphOrphanTransition(t *testing.T) {
	g, r := newTestGraph()
	g.process(ev(addEvent, object("ns", "own", "o1"), nil))
	orphaning := deleting(object("ns", "own", "o1"), metav1.FinalizerOrphanDependents)
	g.process(ev(updateEvent, orphaning, object("ns", "own", "o1")))
	g.process(ev(updateEvent, orphaning, orphaning))
	if !reflect.DeepEqual(r.orphans, []types.UID{"o1"}) {
		t.Errorf("orphans queued %v", r.orphans)
	}
	if len(r.deletes) != 0 {
		t.Errorf("deletes queued %v", r.deletes)
	}
}

// Removing a blocking reference, or turning blockOwnerDeletion off, lets
// the owner waiting for it be checked again.
func TestGraphUnblock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		owners []metav1.OwnerReference
	}{
		{"reference removed", nil},
		{"blockOwnerDeletion off", []metav1.OwnerReference{owner("own", "o1", false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, r := newTestGraph()
			g.process(ev(addEvent, object("ns", "own", "o1"), nil))
			before := object("ns", "dep", "d1", owner("own", "o1", true))
			g.process(ev(addEvent, before, nil))
			if v, _ := g.view("o1"); len(v.blockingDependents()) != 1 {
				t.Fatalf("blocking dependents = %+v", v.blockingDependents())
			}
			r.reset()
			g.process(ev(updateEvent, object("ns", "dep", "d1", tc.owners...), before))
			if !reflect.DeepEqual(r.deletes, []types.UID{"o1"}) {
				t.Errorf("queued %v, want the owner", r.deletes)
			}
			if v, _ := g.view("o1"); len(v.blockingDependents()) != 0 {
				t.Errorf("still blocking: %+v", v.blockingDependents())
			}
		})
	}
}

// A virtual owner found absent under one identity, while other dependents
// refer to its uid otherwise, stays under the other identity.
func TestGraphVirtualDeleteAlternateIdentity(t *testing.T) {
	g, r := newTestGraph()
	wrongKind := metav1.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: "own", UID: "o1"}
	g.process(ev(addEvent, object("ns", "a", "d1", owner("own", "o1", false)), nil))
	g.process(ev(addEvent, object("ns", "b", "d2", wrongKind), nil))
	r.reset()
	absent := &event{typ: deleteEvent, virtual: true, obj: object("ns", "own", "o1"), gvk: cmKind}
	g.process(absent)
	v, ok := g.view("o1")
	if !ok {
		t.Fatal("virtual node removed although a dependent refers to it otherwise")
	}
	if v.id.Kind != "Secret" {
		t.Errorf("alternate identity = %v", v.id)
	}
	if !reflect.DeepEqual(r.deletes, []types.UID{"d1"}) || !reflect.DeepEqual(r.later, []types.UID{"o1"}) {
		t.Errorf("queued %v, later %v", r.deletes, r.later)
	}
	// Once the first dependent is gone and the owner is absent under the
	// second identity too, the node goes.
	g.process(ev(deleteEvent, object("ns", "a", "d1", owner("own", "o1", false)), nil))
	r.reset()
	g.process(&event{typ: deleteEvent, virtual: true, obj: object("ns", "own", "o1"), gvk: schema.GroupVersionKind{Version: "v1", Kind: "Secret"}})
	if _, ok := g.view("o1"); ok {
		t.Error("virtual node kept")
	}
	if !slices.Contains(r.deletes, "d2") {
		t.Errorf("queued %v, want d2", r.deletes)
	}
}

func TestReferenceDiffs(t *testing.T) {
	a, b, c := owner("a", "1", true), owner("b", "2", true), owner("c", "3", false)
	b2 := owner("b", "2", false)
	added, removed, changed := referenceDiffs([]metav1.OwnerReference{a, b}, []metav1.OwnerReference{b2, c})
	if !reflect.DeepEqual(added, []metav1.OwnerReference{c}) || !reflect.DeepEqual(removed, []metav1.OwnerReference{a}) ||
		len(changed) != 1 || changed[0][0].UID != "2" || *changed[0][1].BlockOwnerDeletion {
		t.Errorf("added %v removed %v changed %v", added, removed, changed)
	}
}

func TestPolicyOf(t *testing.T) {
	for _, tc := range []struct {
		finalizers []string
		want       metav1.DeletionPropagation
	}{
		{nil, metav1.DeletePropagationBackground},
		{[]string{"example.com/x"}, metav1.DeletePropagationBackground},
		{[]string{metav1.FinalizerOrphanDependents}, metav1.DeletePropagationOrphan},
		{[]string{metav1.FinalizerDeleteDependents}, metav1.DeletePropagationForeground},
	} {
		m := object("ns", "x", "1")
		m.Finalizers = tc.finalizers
		if got := policyOf(m); got != tc.want {
			t.Errorf("finalizers %v: policy %s, want %s", tc.finalizers, got, tc.want)
		}
	}
}
