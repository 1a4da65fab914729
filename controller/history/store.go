package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/util/retry"
)

// maxCollisions bounds the renaming of a revision whose name is taken.
const maxCollisions = 100

// Store reads revisions from an informer's cache and writes them through
// the API.
type Store struct {
	client kubernetes.Interface
	lister appslisters.ControllerRevisionLister
}

// NewStore returns a Store.
func NewStore(client kubernetes.Interface, lister appslisters.ControllerRevisionLister) *Store {
	return &Store{client: client, lister: lister}
}

// List returns the revisions in parent's namespace that selector matches
// and that parent controls or nobody controls.
func (s *Store) List(parent metav1.Object, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := s.lister.ControllerRevisions(parent.GetNamespace()).List(selector)
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s/%s: %w", parent.GetNamespace(), parent.GetName(), err)
	}
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref == nil || ref.UID == parent.GetUID() {
			out = append(out, r)
		}
	}
	return out, nil
}

// Create creates rev for parent, named from its hash and *collisionCount.
// When the name is taken by a revision with other data, *collisionCount is
// incremented and the name recomputed; when it is taken by the same data,
// that revision is returned.
func (s *Store) Create(ctx context.Context, parent metav1.Object, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, errors.New("create revision: nil collision count")
	}
	clone := rev.DeepCopy()
	clone.Namespace = parent.GetNamespace()
	api := s.client.AppsV1().ControllerRevisions(clone.Namespace)
	for i := 0; i < maxCollisions; i++ {
		h := HashRevision(rev, collisionCount)
		clone.Name = Name(parent.GetName(), h)
		if clone.Labels == nil {
			clone.Labels = map[string]string{}
		}
		clone.Labels[HashLabel] = h
		created, err := api.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return nil, fmt.Errorf("create revision %s/%s: %w", clone.Namespace, clone.Name, err)
			}
			return created, nil
		}
		existing, err := api.Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get revision %s/%s: %w", clone.Namespace, clone.Name, err)
		}
		if bytes.Equal(existing.Data.Raw, clone.Data.Raw) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("create revision of %s/%s: %d name collisions", parent.GetNamespace(), parent.GetName(), maxCollisions)
}

// Renumber sets a revision's Revision (a rollback to an earlier revision
// makes it the newest), retrying on conflicts.
func (s *Store) Renumber(ctx context.Context, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	clone := rev.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if clone.Revision == n {
			return nil
		}
		clone.Revision = n
		updated, err := s.client.AppsV1().ControllerRevisions(clone.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
		if err == nil {
			clone = updated
			return nil
		}
		if fresh, getErr := s.lister.ControllerRevisions(clone.Namespace).Get(clone.Name); getErr == nil {
			clone = fresh.DeepCopy()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renumber revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return clone, nil
}

// Delete deletes a revision; one already gone is not an error.
func (s *Store) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := s.client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return nil
}

// Adopt makes parent (of kind) the controller of an orphaned revision.
func (s *Store) Adopt(ctx context.Context, parent metav1.Object, kind schema.GroupVersionKind, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if owner := metav1.GetControllerOfNoCopy(rev); owner != nil {
		return nil, fmt.Errorf("adopt revision %s/%s: already controlled by %s %s", rev.Namespace, rev.Name, owner.Kind, owner.Name)
	}
	out, err := s.client.AppsV1().ControllerRevisions(rev.Namespace).Patch(ctx, rev.Name,
		types.StrategicMergePatchType, AdoptPatch(parent, kind, rev.UID), metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return out, nil
}

// Release removes parent's owner reference from a revision.
func (s *Store) Release(ctx context.Context, parent metav1.Object, rev *appsv1.ControllerRevision) error {
	_, err := s.client.AppsV1().ControllerRevisions(rev.Namespace).Patch(ctx, rev.Name,
		types.StrategicMergePatchType, ReleasePatch(parent.GetUID(), rev.UID), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("release revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return nil
}
