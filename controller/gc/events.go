package gc

import (
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is a change seen by an informer, or a virtual deletion: an object
// the workers found not to exist.
type event struct {
	typ     eventType
	virtual bool
	obj     metav1.Object
	// old is the previous state of an update, when known.
	old metav1.Object
	gvk schema.GroupVersionKind
}

func (e *event) identity() ref {
	return ref{
		APIVersion: e.gvk.GroupVersion().String(), Kind: e.gvk.Kind,
		Namespace: e.obj.GetNamespace(), Name: e.obj.GetName(), UID: e.obj.GetUID(),
	}
}

func beingDeleted(m metav1.Object) bool { return m.GetDeletionTimestamp() != nil }

func hasFinalizer(m metav1.Object, f string) bool { return slices.Contains(m.GetFinalizers(), f) }

// startsDeletionWith reports whether new is being deleted with finalizer f
// and old was not (or is unknown).
func startsDeletionWith(old, new metav1.Object, f string) bool {
	if !beingDeleted(new) || !hasFinalizer(new, f) {
		return false
	}
	return old == nil || !beingDeleted(old) || !hasFinalizer(old, f)
}

// process applies one event to the graph and queues the work it calls for.
func (g *graph) process(e *event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid := e.obj.GetUID()
	existing, found := g.nodes[uid]
	if found && !e.virtual && existing.virtual {
		// First sight of an owner known until now from references.
		observed := e.identity()
		if observed != existing.id {
			_, suspects := partitionDependents(existing.dependents, observed)
			for _, d := range suspects {
				if observed.Namespace != "" && d.id.Namespace != observed.Namespace {
					if o, ok := ownerByUID(d.owners, uid); ok {
						g.out.invalidNamespace(d.id, o)
					}
				}
				g.out.attemptToDelete(d.id.UID, false)
			}
			existing.id = observed
		}
		existing.virtual = false
	}
	switch {
	case e.typ != deleteEvent && !found:
		n := &node{
			id:                 e.identity(),
			owners:             e.obj.GetOwnerReferences(),
			dependents:         map[*node]struct{}{},
			beingDeleted:       beingDeleted(e.obj),
			deletingDependents: beingDeleted(e.obj) && hasFinalizer(e.obj, metav1.FinalizerDeleteDependents),
		}
		g.nodes[uid] = n
		g.addDependentToOwners(n, n.owners)
		g.transitions(e.old, e.obj, n)
	case e.typ != deleteEvent:
		if !e.virtual {
			id := e.identity()
			existing.id.APIVersion, existing.id.Kind = id.APIVersion, id.Kind
		}
		owners := e.obj.GetOwnerReferences()
		added, removed, changed := referenceDiffs(existing.owners, owners)
		if len(added)+len(removed)+len(changed) > 0 {
			g.queueUnblockedOwners(removed, changed)
			existing.owners = owners
			g.addDependentToOwners(existing, added)
			g.removeDependentFromOwners(existing, removed)
		}
		if beingDeleted(e.obj) {
			existing.beingDeleted = true
		}
		g.transitions(e.old, e.obj, existing)
	case found:
		g.remove(e, existing)
	}
}

// transitions queues the work for an object that starts being deleted
// with the orphan or foregroundDeletion finalizer.
func (g *graph) transitions(old, new metav1.Object, n *node) {
	if startsDeletionWith(old, new, metav1.FinalizerOrphanDependents) {
		g.out.attemptToOrphan(n.id.UID)
		return
	}
	if startsDeletionWith(old, new, metav1.FinalizerDeleteDependents) {
		n.deletingDependents = true
		for d := range n.dependents {
			g.out.attemptToDelete(d.id.UID, false)
		}
		g.out.attemptToDelete(n.id.UID, false)
	}
}

// remove handles a deletion, observed or virtual.
func (g *graph) remove(e *event, n *node) {
	if e.virtual {
		deleted := e.identity()
		switch {
		case n.virtual:
			// Coordinates of a virtual node are a guess: dependents
			// referring to the uid otherwise keep it, under another
			// identity to verify.
			matching, other := partitionDependents(n.dependents, deleted)
			if len(other) > 0 {
				if len(matching) > 0 {
					g.absent.add(deleted)
					for _, d := range matching {
						g.out.attemptToDelete(d.id.UID, false)
					}
				}
				if n.id == deleted {
					if alt, ok := alternateIdentity(other, deleted); ok {
						n.id = alt
						g.out.attemptToDelete(n.id.UID, true)
					}
				}
				return
			}
		case n.id != deleted:
			// The real object is there; only references by these other
			// coordinates are dangling.
			matching, _ := partitionDependents(n.dependents, deleted)
			if len(matching) > 0 {
				g.absent.add(deleted)
				for _, d := range matching {
					g.out.attemptToDelete(d.id.UID, false)
				}
			}
			return
		}
	}
	delete(g.nodes, n.id.UID)
	g.removeDependentFromOwners(n, n.owners)
	if len(n.dependents) > 0 {
		g.absent.add(e.identity())
	}
	for d := range n.dependents {
		g.out.attemptToDelete(d.id.UID, false)
	}
	for _, o := range n.owners {
		if on, ok := g.nodes[o.UID]; ok && on.deletingDependents {
			// The owner may be waiting for this dependent to go.
			g.out.attemptToDelete(on.id.UID, false)
		}
	}
}

// queueUnblockedOwners queues owners that a removed reference, or one whose
// blockOwnerDeletion was turned off, no longer blocks.
func (g *graph) queueUnblockedOwners(removed []metav1.OwnerReference, changed [][2]metav1.OwnerReference) {
	blocks := func(o metav1.OwnerReference) bool { return o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion }
	var uids []metav1.OwnerReference
	for _, o := range removed {
		if blocks(o) {
			uids = append(uids, o)
		}
	}
	for _, c := range changed {
		if blocks(c[0]) && !blocks(c[1]) {
			uids = append(uids, c[1])
		}
	}
	for _, o := range uids {
		if on, ok := g.nodes[o.UID]; ok {
			g.out.attemptToDelete(on.id.UID, false)
		}
	}
}

// referenceDiffs compares two lists of ownerReferences by uid.
func referenceDiffs(old, new []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed [][2]metav1.OwnerReference) {
	before := make(map[string]metav1.OwnerReference, len(old))
	for _, o := range old {
		before[string(o.UID)] = o
	}
	for _, o := range new {
		prev, ok := before[string(o.UID)]
		if !ok {
			added = append(added, o)
			continue
		}
		if !reflect.DeepEqual(prev, o) {
			changed = append(changed, [2]metav1.OwnerReference{prev, o})
		}
		delete(before, string(o.UID))
	}
	for _, o := range old {
		if _, ok := before[string(o.UID)]; ok {
			removed = append(removed, o)
		}
	}
	return added, removed, changed
}

func ownerByUID(owners []metav1.OwnerReference, uid types.UID) (metav1.OwnerReference, bool) {
	for _, o := range owners {
		if o.UID == uid {
			return o, true
		}
	}
	return metav1.OwnerReference{}, false
}
