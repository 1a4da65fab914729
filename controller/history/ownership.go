package history

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// AdoptPatch is the strategic merge patch that makes owner (of kind) the
// controller of the object with uid.
func AdoptPatch(owner metav1.Object, kind schema.GroupVersionKind, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{
			"ownerReferences": []map[string]interface{}{{
				"apiVersion":         kind.GroupVersion().String(),
				"kind":               kind.Kind,
				"name":               owner.GetName(),
				"uid":                owner.GetUID(),
				"controller":         true,
				"blockOwnerDeletion": true,
			}},
			"uid": uid,
		},
	})
	return b
}

// ReleasePatch is the strategic merge patch that removes the owner
// reference to ownerUID from the object with uid.
func ReleasePatch(ownerUID, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{
			"ownerReferences": []map[string]interface{}{{"$patch": "delete", "uid": ownerUID}},
			"uid":             uid,
		},
	})
	return b
}

// Claimer decides which objects belong to a controller, adopting and
// releasing them as Kubernetes' ControllerRefManager does: an object
// controlled by someone else is ignored; one controlled by Owner is kept if
// Match accepts it and released otherwise (unless Owner is being deleted);
// an orphan that Match accepts is adopted unless Owner or the object is
// being deleted.
type Claimer struct {
	Owner metav1.Object
	Kind  schema.GroupVersionKind
	// Match tells whether an object should belong to Owner (selector and
	// any other rule).
	Match func(metav1.Object) bool
	// CanAdopt is called once, before the first adoption: Kubernetes
	// re-reads the owner from the API to be sure it is not being deleted.
	CanAdopt func(ctx context.Context) error
	// Patch sends a strategic merge patch to the object named name in
	// Owner's namespace.
	Patch func(ctx context.Context, name string, patch []byte) error

	once     sync.Once
	adoptErr error
}

// Claim reports whether obj belongs to Owner, adopting or releasing it as
// needed.
func (c *Claimer) Claim(ctx context.Context, obj metav1.Object) (bool, error) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil
		}
		if c.Match(obj) {
			return true, nil
		}
		if c.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		err := c.Patch(ctx, obj.GetName(), ReleasePatch(c.Owner.GetUID(), obj.GetUID()))
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, fmt.Errorf("release %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return false, nil
	}
	if c.Owner.GetDeletionTimestamp() != nil || !c.Match(obj) || obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if obj.GetNamespace() != c.Owner.GetNamespace() {
		return false, nil
	}
	if c.CanAdopt != nil {
		c.once.Do(func() { c.adoptErr = c.CanAdopt(ctx) })
		if c.adoptErr != nil {
			return false, fmt.Errorf("adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), c.adoptErr)
		}
	}
	if err := c.Patch(ctx, obj.GetName(), AdoptPatch(c.Owner, c.Kind, obj.GetUID())); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

// OwnerStillThere returns a CanAdopt function: get re-reads the owner from
// the API; adoption is refused if it is gone, replaced (another UID) or
// being deleted.
func OwnerStillThere(owner metav1.Object, kind string, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
		}
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", kind, owner.GetNamespace(), owner.GetName(), fresh.GetUID(), owner.GetUID())
		}
		if ts := fresh.GetDeletionTimestamp(); ts != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", owner.GetNamespace(), owner.GetName(), ts)
		}
		return nil
	}
}
