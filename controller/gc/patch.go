package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// metaPatch is a JSON merge patch of an object's metadata. The uid and
// resourceVersion make it apply only to the version it was computed from.
type metaPatch struct {
	Metadata metaPatchFields `json:"metadata"`
}

type metaPatchFields struct {
	UID             types.UID                `json:"uid"`
	ResourceVersion string                   `json:"resourceVersion"`
	OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
	// Finalizers, when set, replaces the list (null removes it).
	Finalizers *[]string `json:"finalizers,omitempty"`
}

// ownerRefsPatch replaces the ownerReferences of the object (uid, rv).
func ownerRefsPatch(uid types.UID, rv string, owners []metav1.OwnerReference) ([]byte, error) {
	if owners == nil {
		owners = []metav1.OwnerReference{}
	}
	return json.Marshal(metaPatch{Metadata: metaPatchFields{UID: uid, ResourceVersion: rv, OwnerReferences: &owners}})
}

// finalizersPatch replaces the finalizers of the object (uid, rv).
func finalizersPatch(uid types.UID, rv string, finalizers []string) ([]byte, error) {
	return json.Marshal(metaPatch{Metadata: metaPatchFields{UID: uid, ResourceVersion: rv, Finalizers: &finalizers}})
}

// updateMeta reads r, lets change compute a patch from its metadata (nil:
// nothing to do) and applies it, again on conflicts. A missing object is
// not an error.
func (c *Controller) updateMeta(ctx context.Context, r ref, change func(*metav1.PartialObjectMetadata) ([]byte, error)) error {
	rc, err := c.client(r)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := rc.Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != r.UID {
			return errGone
		}
		p, err := change(cur)
		if err != nil || p == nil {
			return err
		}
		_, err = rc.Patch(ctx, r.Name, types.MergePatchType, p, metav1.PatchOptions{})
		return err
	})
	if apierrors.IsNotFound(err) || errors.Is(err, errGone) {
		return nil
	}
	return err
}

// errGone: the object was replaced by another of the same name.
var errGone = errors.New("object replaced")

// removeOwnerRefs removes the references to owners from r.
func (c *Controller) removeOwnerRefs(ctx context.Context, r ref, owners []types.UID) error {
	return c.updateMeta(ctx, r, func(cur *metav1.PartialObjectMetadata) ([]byte, error) {
		kept := slices.DeleteFunc(slices.Clone(cur.OwnerReferences), func(o metav1.OwnerReference) bool {
			return slices.Contains(owners, o.UID)
		})
		if len(kept) == len(cur.OwnerReferences) {
			return nil, nil
		}
		return ownerRefsPatch(cur.UID, cur.ResourceVersion, kept)
	})
}

// unblockOwnerRefs turns blockOwnerDeletion off in every reference of r.
func (c *Controller) unblockOwnerRefs(ctx context.Context, r ref) error {
	return c.updateMeta(ctx, r, func(cur *metav1.PartialObjectMetadata) ([]byte, error) {
		owners := slices.Clone(cur.OwnerReferences)
		changed := false
		for i := range owners {
			if owners[i].BlockOwnerDeletion != nil && *owners[i].BlockOwnerDeletion {
				off := false
				owners[i].BlockOwnerDeletion = &off
				changed = true
			}
		}
		if !changed {
			return nil, nil
		}
		return ownerRefsPatch(cur.UID, cur.ResourceVersion, owners)
	})
}

// removeFinalizer removes finalizer f from r.
func (c *Controller) removeFinalizer(ctx context.Context, r ref, f string) error {
	err := c.updateMeta(ctx, r, func(cur *metav1.PartialObjectMetadata) ([]byte, error) {
		if !slices.Contains(cur.Finalizers, f) {
			return nil, nil
		}
		kept := slices.DeleteFunc(slices.Clone(cur.Finalizers), func(s string) bool { return s == f })
		if len(kept) == 0 {
			kept = nil
		}
		return finalizersPatch(cur.UID, cur.ResourceVersion, kept)
	})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("remove finalizer %s from %s: too many conflicts; will retry: %w", f, r, err)
	}
	return err
}

// syncOrphan handles an owner deleted with the orphan finalizer: every
// dependent loses its reference to it, then the finalizer goes.
func (c *Controller) syncOrphan(ctx context.Context, key string) error {
	v, ok := c.graph.view(types.UID(key))
	if !ok {
		return nil
	}
	var errs []error
	for _, d := range v.dependents {
		if err := c.removeOwnerRefs(ctx, d.id, []types.UID{v.id.UID}); err != nil {
			errs = append(errs, fmt.Errorf("orphan %s: %w", d.id, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("orphan dependents of %s: %w", v.id, errors.Join(errs...))
	}
	if err := c.removeFinalizer(ctx, v.id, metav1.FinalizerOrphanDependents); err != nil {
		return fmt.Errorf("remove orphan finalizer of %s: %w", v.id, err)
	}
	return nil
}
