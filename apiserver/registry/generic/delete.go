package generic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/store"
)

// deleteAttempts bounds how often a delete starts over when the object
// changes between deciding to remove it and removing it.
const deleteAttempts = 5

// Delete deletes an object. It reports whether the object is gone; it is not
// when finalizers or a grace period keep it, marked with deletionTimestamp.
func (s *Store) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	dryRun := len(opts.DryRun) > 0
	for attempt := 1; ; attempt++ {
		obj, gone, err := s.deleteOnce(ctx, namespace, name, opts, dryRun)
		if errors.Is(err, errChanged) && attempt < deleteAttempts {
			continue
		}
		if errors.Is(err, errChanged) {
			return nil, false, apierrors.NewConflict(s.qualifiedResource(), name, errors.New(conflictMessage))
		}
		return obj, gone, err
	}
}

var errChanged = errors.New("object changed during delete")

func (s *Store) deleteOnce(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error) {
	key := s.key(namespace, name)
	var now deleteInstead
	deleteNow := false
	out, err := s.cfg.Storage.Update(ctx, key, store.UpdateOptions{}, func(storedCur runtime.Object) (runtime.Object, error) {
		deleteNow = false
		cur, err := s.conv.fromStored(storedCur)
		if err != nil {
			return nil, err
		}
		if err := s.checkPreconditions(cur, opts.Preconditions); err != nil {
			return nil, err
		}
		if err := s.admit(ctx, &Attributes{Operation: Delete, Resource: s.res, Namespace: namespace, Name: name, Old: cur, DryRun: dryRun}); err != nil {
			return nil, err
		}
		obj := cur.DeepCopyObject()
		m, _ := meta.Accessor(obj)
		s.setPropagationFinalizers(m, opts)
		graceful := false
		if s.res.GracefulDelete != nil {
			graceful = s.res.GracefulDelete(obj, opts)
		}
		finalizing := s.res.Finalizing != nil && s.res.Finalizing(obj)
		if len(m.GetFinalizers()) == 0 && !graceful && !finalizing {
			cm, _ := meta.Accessor(cur)
			now, deleteNow = deleteInstead{rv: cm.GetResourceVersion()}, true
			return nil, now
		}
		s.markDeleted(obj, m, graceful, opts)
		if dryRun {
			return nil, dryRunResult{obj}
		}
		return s.conv.toStored(obj)
	})
	var dr dryRunResult
	switch {
	case errors.As(err, &dr):
		return dr.obj, false, nil
	case deleteNow:
		obj, err := s.deleteNow(ctx, namespace, name, now.rv, dryRun)
		return obj, err == nil, err
	case err != nil:
		return nil, false, s.storeError(err, name)
	}
	obj, err := s.conv.fromStored(out)
	return obj, false, err
}

// markDeleted sets deletionTimestamp and deletionGracePeriodSeconds on an
// object that stays for now. A shorter grace period than the one running
// brings the deletion forward; a longer one changes nothing.
func (s *Store) markDeleted(obj runtime.Object, m metav1.Object, graceful bool, opts *metav1.DeleteOptions) {
	var grace int64
	if graceful && opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	when := metav1.NewTime(s.cfg.Now().Add(time.Duration(grace) * time.Second).Truncate(time.Second))
	if old := m.GetDeletionTimestamp(); old != nil {
		if oldGrace := m.GetDeletionGracePeriodSeconds(); oldGrace != nil && *oldGrace <= grace {
			return
		}
		if old.Before(&when) {
			return
		}
	}
	m.SetDeletionTimestamp(&when)
	m.SetDeletionGracePeriodSeconds(&grace)
	if g := m.GetGeneration(); g > 0 {
		m.SetGeneration(g + 1)
	}
	if s.res.PrepareForDelete != nil {
		s.res.PrepareForDelete(obj)
	}
}

// deleteNow removes the object if it is still at resourceVersion rv.
func (s *Store) deleteNow(ctx context.Context, namespace, name, rv string, dryRun bool) (runtime.Object, error) {
	key := s.key(namespace, name)
	if dryRun {
		obj, err := s.Get(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		m, _ := meta.Accessor(obj)
		if m.GetResourceVersion() != rv {
			return nil, errChanged
		}
		return obj, nil
	}
	out, err := s.cfg.Storage.Delete(ctx, key, func(cur runtime.Object) error {
		m, err := meta.Accessor(cur)
		if err != nil {
			return err
		}
		if m.GetResourceVersion() != rv {
			return errChanged
		}
		return nil
	})
	if errors.Is(err, errChanged) {
		return nil, errChanged
	}
	if err != nil {
		return nil, s.storeError(err, name)
	}
	obj, err := s.conv.fromStored(out)
	if err != nil {
		return nil, err
	}
	if s.res.AfterDelete != nil {
		s.res.AfterDelete(ctx, obj)
	}
	return obj, nil
}

// checkPreconditions refuses a delete whose preconditions do not hold, with
// Kubernetes' messages (which name the resource by its kind).
func (s *Store) checkPreconditions(cur runtime.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	m, _ := meta.Accessor(cur)
	kind := schema.GroupResource{Group: s.res.Group, Resource: s.res.Kind}
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(kind, m.GetName(), fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(kind, m.GetName(), fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// setPropagationFinalizers records the propagation policy for the garbage
// collector as the orphan and foregroundDeletion finalizers.
func (s *Store) setPropagationFinalizers(m metav1.Object, opts *metav1.DeleteOptions) {
	fins := m.GetFinalizers()
	orphan := slices.Contains(fins, metav1.FinalizerOrphanDependents)
	foreground := slices.Contains(fins, metav1.FinalizerDeleteDependents)
	switch {
	case opts.PropagationPolicy != nil:
		orphan = *opts.PropagationPolicy == metav1.DeletePropagationOrphan
		foreground = *opts.PropagationPolicy == metav1.DeletePropagationForeground
	case opts.OrphanDependents != nil:
		orphan, foreground = *opts.OrphanDependents, false
	case !orphan && !foreground:
		orphan = s.res.DefaultPropagation == metav1.DeletePropagationOrphan
		foreground = s.res.DefaultPropagation == metav1.DeletePropagationForeground
	}
	out := slices.DeleteFunc(slices.Clone(fins), func(f string) bool {
		return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
	})
	if orphan {
		out = append(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if len(out) == 0 {
		out = nil
	}
	m.SetFinalizers(out)
}

// DeleteCollection deletes every object a list selects, returning them.
func (s *Store) DeleteCollection(ctx context.Context, namespace string, listOpts *metav1.ListOptions, opts *metav1.DeleteOptions) (runtime.Object, error) {
	list, err := s.List(ctx, namespace, listOpts)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var deleted []runtime.Object
	for _, it := range items {
		m, _ := meta.Accessor(it)
		o := opts.DeepCopy()
		obj, _, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		deleted = append(deleted, obj)
	}
	if err := meta.SetList(list, deleted); err != nil {
		return nil, err
	}
	return list, nil
}
