package gc

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ref identifies an object as an ownerReference does (apiVersion, kind,
// name, uid), plus its namespace ("" when cluster-scoped, or, for an owner
// known only from a reference, the namespace of the dependent).
type ref struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

// String is Kubernetes' rendering of an object reference in the garbage
// collector's messages.
func (r ref) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// ownerRef returns the reference o, seen from an object in namespace ns.
func ownerRef(o metav1.OwnerReference, ns string) ref {
	return ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: ns, Name: o.Name, UID: o.UID}
}

// matches reports whether o points at r's coordinates (namespace aside).
func (r ref) matches(o metav1.OwnerReference) bool {
	return o.UID == r.UID && o.Name == r.Name && o.Kind == r.Kind && o.APIVersion == r.APIVersion
}

// node is an object in the dependency graph. Its fields are guarded by the
// graph's lock.
type node struct {
	id ref
	// owners are the object's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// dependents are the nodes whose ownerReferences name this node's uid.
	dependents map[*node]struct{}
	// virtual: the node was made up from a dependent's ownerReference and
	// has not been observed through an informer.
	virtual bool
	// beingDeleted: the object has a deletionTimestamp (one way).
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion
	// finalizer.
	deletingDependents bool
}

// blockedBy reports whether dependent d blocks n's foreground deletion.
func (n *node) blockedBy(d *node) bool {
	for _, o := range d.owners {
		if o.UID == n.id.UID && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

// sink receives what the graph decides: objects to check for deletion,
// owners whose dependents are to be orphaned, and invalid references.
type sink interface {
	// attemptToDelete queues an object to be checked (and deleted when its
	// owners are gone); later does so after a back-off.
	attemptToDelete(uid types.UID, later bool)
	// attemptToOrphan queues an owner whose dependents must lose their
	// references to it.
	attemptToOrphan(uid types.UID)
	// invalidNamespace reports that dependent refers to owner, which
	// cannot exist in the dependent's namespace.
	invalidNamespace(dependent ref, owner metav1.OwnerReference)
}

// graph is the dependency graph: nodes by uid. One goroutine changes it
// (process); the workers read it through view.
type graph struct {
	mu     sync.RWMutex
	nodes  map[types.UID]*node
	absent *absentCache
	out    sink
}

func newGraph(absent *absentCache, out sink) *graph {
	return &graph{nodes: map[types.UID]*node{}, absent: absent, out: out}
}

// depView is what a worker needs to know of a dependent.
type depView struct {
	id                 ref
	deletingDependents bool
	// blocking: the dependent's reference to the owner has
	// blockOwnerDeletion.
	blocking bool
}

// nodeView is a copy of a node, safe to use without the lock.
type nodeView struct {
	id                 ref
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []depView
}

// blockingDependents are the dependents that must be gone before a
// foreground deletion of the node completes.
func (v nodeView) blockingDependents() []depView {
	var out []depView
	for _, d := range v.dependents {
		if d.blocking {
			out = append(out, d)
		}
	}
	return out
}

// view returns a copy of the node with uid.
func (g *graph) view(uid types.UID) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{id: n.id, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for d := range n.dependents {
		v.dependents = append(v.dependents, depView{id: d.id, deletingDependents: d.deletingDependents, blocking: n.blockedBy(d)})
	}
	return v, true
}

// len is the number of nodes.
func (g *graph) len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}

// addDependentToOwners links n to the owners it names, making virtual
// nodes for owners not seen yet (and queueing them to be verified). A
// dependent whose reference cannot match an observed owner is queued too,
// and a namespace mismatch reported.
func (g *graph) addDependentToOwners(n *node, owners []metav1.OwnerReference) {
	suspect := false
	for _, o := range owners {
		on, ok := g.nodes[o.UID]
		if !ok {
			on = &node{id: ownerRef(o, n.id.Namespace), dependents: map[*node]struct{}{}, virtual: true}
			g.nodes[o.UID] = on
		}
		on.dependents[n] = struct{}{}
		switch {
		case !ok:
			g.out.attemptToDelete(o.UID, false)
		case suspect:
		case on.id.Namespace != "" && on.id.Namespace != n.id.Namespace:
			// A namespaced owner can only own objects of its namespace.
			if !on.virtual {
				g.out.invalidNamespace(n.id, o)
			}
			suspect = true
		case !on.id.matches(o):
			suspect = true
		case on.id.Namespace == "" && n.id.Namespace != "" && on.virtual:
			// A virtual cluster-scoped owner may really be a missing
			// namespaced one referred to by a cluster-scoped object.
			suspect = true
		}
	}
	if suspect {
		g.out.attemptToDelete(n.id.UID, false)
	}
}

func (g *graph) removeDependentFromOwners(n *node, owners []metav1.OwnerReference) {
	for _, o := range owners {
		if on, ok := g.nodes[o.UID]; ok {
			delete(on.dependents, n)
		}
	}
}

// partitionDependents splits deps into those whose reference to owner's
// uid matches owner's coordinates and those whose does not (a dependent
// with several references to the uid may be in both).
func partitionDependents(deps map[*node]struct{}, owner ref) (matching, other []*node) {
	for d := range deps {
		match, mismatch := false, false
		if owner.Namespace != "" && owner.Namespace != d.id.Namespace {
			mismatch = true
		} else {
			for _, o := range d.owners {
				if o.UID != owner.UID {
					continue
				}
				if owner.matches(o) {
					match = true
				} else {
					mismatch = true
				}
			}
		}
		if match {
			matching = append(matching, d)
		}
		if mismatch {
			other = append(other, d)
		}
	}
	return matching, other
}

// refLess orders references by kind, apiVersion, namespace, name, uid.
func refLess(a, b ref) bool {
	switch {
	case a.Kind != b.Kind:
		return a.Kind < b.Kind
	case a.APIVersion != b.APIVersion:
		return a.APIVersion < b.APIVersion
	case a.Namespace != b.Namespace:
		return a.Namespace < b.Namespace
	case a.Name != b.Name:
		return a.Name < b.Name
	}
	return a.UID < b.UID
}

// alternateIdentity finds another identity under which deps refer to the
// uid of absent (verified not to exist): the first after absent in refLess
// order, else the first. It returns false when there is none.
func alternateIdentity(deps []*node, absent ref) (ref, bool) {
	seen := map[ref]bool{absent: true}
	var first, following *ref
	for _, d := range deps {
		for _, o := range d.owners {
			if o.UID != absent.UID {
				continue
			}
			if absent.matches(o) && (absent.Namespace == "" || absent.Namespace == d.id.Namespace) {
				continue
			}
			r := ownerRef(o, d.id.Namespace)
			if absent.Namespace == "" && r.APIVersion == absent.APIVersion && r.Kind == absent.Kind {
				r.Namespace = "" // this kind is known to be cluster-scoped
			}
			if seen[r] {
				continue
			}
			seen[r] = true
			if first == nil || refLess(r, *first) {
				first = &r
			}
			if refLess(absent, r) && (following == nil || refLess(r, *following)) {
				following = &r
			}
		}
	}
	switch {
	case following != nil:
		return *following, true
	case first != nil:
		return *first, true
	}
	return ref{}, false
}
