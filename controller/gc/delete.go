package gc

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

var (
	// errVirtualDeleteQueued: the object was found not to exist and the
	// graph was told; nothing to retry.
	errVirtualDeleteQueued = errors.New("object does not exist; virtual delete event queued")
	// errNamespacedOwnerOfClusterScoped: a cluster-scoped object refers to
	// a namespaced owner, which retrying cannot fix.
	errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped objects cannot refer to namespaced owners")
	// errNotObserved: the object exists but no informer has shown it yet;
	// check again later.
	errNotObserved = errors.New("object not observed by an informer yet")
)

// mappingError: a kind the API server does not (yet) serve.
type mappingError struct {
	apiVersion, kind string
	err              error
}

func (e *mappingError) Error() string {
	return fmt.Sprintf("unable to get REST mapping for %s/%s: %v", e.apiVersion, e.kind, e.err)
}

func (e *mappingError) Unwrap() error { return e.err }

// resource maps apiVersion and kind to a resource and its scope.
func (c *Controller) resource(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, &mappingError{apiVersion, kind, err}
	}
	m, err := c.mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, &mappingError{apiVersion, kind, err}
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// client returns the metadata client of the object r.
func (c *Controller) client(r ref) (metadata.ResourceInterface, error) {
	gvr, namespaced, err := c.resource(r.APIVersion, r.Kind)
	if err != nil {
		return nil, err
	}
	if !namespaced {
		return c.md.Resource(gvr), nil
	}
	return c.md.Resource(gvr).Namespace(r.Namespace), nil
}

func (c *Controller) get(ctx context.Context, r ref) (*metav1.PartialObjectMetadata, error) {
	rc, err := c.client(r)
	if err != nil {
		return nil, err
	}
	return rc.Get(ctx, r.Name, metav1.GetOptions{})
}

// syncDelete checks the object with uid key and deletes it if its owners
// are gone (attemptToDelete).
func (c *Controller) syncDelete(ctx context.Context, key string) error {
	v, ok := c.graph.view(types.UID(key))
	if !ok {
		return nil
	}
	err := c.attemptToDeleteItem(ctx, v)
	switch {
	case errors.Is(err, errVirtualDeleteQueued), errors.Is(err, errNamespacedOwnerOfClusterScoped):
		return nil
	case err != nil:
		return fmt.Errorf("garbage collect %s: %w", v.id, err)
	case v.virtual:
		// Check again until an informer shows it, or it is found absent.
		return errNotObserved
	}
	return nil
}

// attemptToDeleteItem decides what to do with one object: nothing while an
// owner exists; remove references to owners that are gone or waiting for
// their dependents while another owner exists; otherwise delete it.
func (c *Controller) attemptToDeleteItem(ctx context.Context, v nodeView) error {
	if v.beingDeleted && !v.deletingDependents {
		// On its way out; its dependents are handled when it is gone.
		return nil
	}
	latest, err := c.get(ctx, v.id)
	switch {
	case apierrors.IsNotFound(err):
		c.queueVirtualDelete(v.id)
		return errVirtualDeleteQueued
	case err != nil:
		return err
	case latest.UID != v.id.UID:
		c.queueVirtualDelete(v.id)
		return errVirtualDeleteQueued
	}
	if v.deletingDependents {
		return c.processDeletingDependents(ctx, v)
	}
	owners := latest.OwnerReferences
	if len(owners) == 0 {
		return nil
	}
	solid, dangling, waiting, err := c.classify(ctx, v.id, owners)
	if err != nil {
		return err
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// Owners waiting for their dependents must not wait for this
		// one, which stays for its solid owner.
		var gone []types.UID
		for _, o := range append(dangling, waiting...) {
			gone = append(gone, o.UID)
		}
		c.logger.Debug("removing references to absent or deleting owners", "item", v.id.String(), "owners", gone)
		return c.removeOwnerRefs(ctx, v.id, gone)
	case len(waiting) > 0 && len(v.dependents) > 0:
		for _, d := range v.dependents {
			if d.deletingDependents {
				// A dependent is deleting its own dependents too: make
				// this object's references non-blocking so that a cycle
				// cannot hold the deletion forever.
				if err := c.unblockOwnerRefs(ctx, v.id); err != nil {
					return err
				}
				break
			}
		}
		return c.deleteObject(ctx, v.id, latest, metav1.DeletePropagationForeground)
	default:
		return c.deleteObject(ctx, v.id, latest, policyOf(latest))
	}
}

// policyOf is the propagation policy for deleting an orphaned object: the
// one its finalizers already ask for, else background.
func policyOf(m metav1.Object) metav1.DeletionPropagation {
	switch {
	case hasFinalizer(m, metav1.FinalizerOrphanDependents):
		return metav1.DeletePropagationOrphan
	case hasFinalizer(m, metav1.FinalizerDeleteDependents):
		return metav1.DeletePropagationForeground
	}
	return metav1.DeletePropagationBackground
}

// classify sorts the references of item: solid (owner exists and is not
// deleting its dependents), dangling (owner absent) and waiting (owner
// being deleted in the foreground). It asks the API server.
func (c *Controller) classify(ctx context.Context, item ref, owners []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, o := range owners {
		gone, owner, err := c.isDangling(ctx, o, item)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case gone:
			dangling = append(dangling, o)
		case beingDeleted(owner) && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, o)
		default:
			solid = append(solid, o)
		}
	}
	return solid, dangling, waiting, nil
}

// isDangling reports whether the owner o of item does not exist (or exists
// with another uid); otherwise it returns the owner as read live.
func (c *Controller) isDangling(ctx context.Context, o metav1.OwnerReference, item ref) (bool, *metav1.PartialObjectMetadata, error) {
	key := ownerRef(o, "")
	if c.absent.has(key) {
		return true, nil, nil
	}
	key.Namespace = item.Namespace
	if c.absent.has(key) {
		return true, nil, nil
	}
	gvr, namespaced, err := c.resource(o.APIVersion, o.Kind)
	if err != nil {
		return false, nil, err
	}
	rc := c.md.Resource(gvr)
	if namespaced {
		if item.Namespace == "" {
			c.logger.Debug("cluster-scoped object refers to a namespaced owner", "item", item.String(), "owner", o.Name)
			return false, nil, errNamespacedOwnerOfClusterScoped
		}
		owner, err := rc.Namespace(item.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		return c.checkOwner(key, o, owner, err)
	}
	key.Namespace = ""
	owner, err := rc.Get(ctx, o.Name, metav1.GetOptions{})
	return c.checkOwner(key, o, owner, err)
}

func (c *Controller) checkOwner(key ref, o metav1.OwnerReference, owner *metav1.PartialObjectMetadata, err error) (bool, *metav1.PartialObjectMetadata, error) {
	switch {
	case apierrors.IsNotFound(err):
		c.absent.add(key)
		return true, nil, nil
	case err != nil:
		return false, nil, err
	case owner.UID != o.UID:
		c.absent.add(key)
		return true, nil, nil
	}
	return false, owner, nil
}

// processDeletingDependents handles an owner deleted in the foreground:
// once no dependent blocks it, its finalizer goes; until then its blocking
// dependents are queued to be deleted.
func (c *Controller) processDeletingDependents(ctx context.Context, v nodeView) error {
	blocking := v.blockingDependents()
	if len(blocking) == 0 {
		c.logger.Debug("removing the foregroundDeletion finalizer", "item", v.id.String())
		return c.removeFinalizer(ctx, v.id, metav1.FinalizerDeleteDependents)
	}
	for _, d := range blocking {
		if !d.deletingDependents {
			c.attemptToDelete(d.id.UID, false)
		}
	}
	return nil
}

// deleteObject deletes r with the uid and resourceVersion of latest as
// preconditions. When only the resourceVersion changed and not the owner
// references, it tries again with the uid alone.
func (c *Controller) deleteObject(ctx context.Context, r ref, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	rc, err := c.client(r)
	if err != nil {
		return err
	}
	uid, rv := r.UID, latest.ResourceVersion
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}, PropagationPolicy: &policy}
	c.logger.Debug("deleting object", "item", r.String(), "propagationPolicy", string(policy))
	err = rc.Delete(ctx, r.Name, opts)
	if apierrors.IsConflict(err) {
		live, gerr := rc.Get(ctx, r.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return nil
		case gerr == nil && live.UID == uid && live.ResourceVersion != rv && reflect.DeepEqual(live.OwnerReferences, latest.OwnerReferences):
			opts.Preconditions.ResourceVersion = nil
			err = rc.Delete(ctx, r.Name, opts)
		}
	}
	if apierrors.IsNotFound(err) {
		c.queueVirtualDelete(r)
		return errVirtualDeleteQueued
	}
	return err
}
