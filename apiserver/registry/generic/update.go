package generic

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/store"
)

// Update replaces an object (PUT), or only its status when sub is "status".
// It reports whether the object was created (resources that allow create on
// update).
func (s *Store) Update(ctx context.Context, namespace, name, sub string, obj runtime.Object, opts *metav1.UpdateOptions) (runtime.Object, bool, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	if m.GetName() != name {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	if err := s.checkNamespace(m, namespace); err != nil {
		return nil, false, err
	}
	w := write{sub: sub, manager: opts.FieldManager, dryRun: len(opts.DryRun) > 0, createOK: s.res.AllowCreateOnUpdate && sub == ""}
	return s.update(ctx, namespace, name, w, func(cur runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
}

// write describes an update in progress.
type write struct {
	sub      string // "" or "status"
	manager  string
	dryRun   bool
	createOK bool // a missing object is created
	// applied is set when the desired object already went through
	// server-side apply, which recorded its managed fields.
	applied bool
	// raw skips the resource's update strategy, validation and managed
	// fields (subresource handlers such as binding).
	raw bool
}

// desiredFunc computes the object a write wants from the current one (nil
// when missing). It may be called several times if the object changes
// concurrently.
type desiredFunc func(cur runtime.Object) (runtime.Object, error)

// dryRunResult stops a storage update that must not be written.
type dryRunResult struct{ obj runtime.Object }

func (dryRunResult) Error() string { return "dry run" }

// deleteInstead stops a storage update whose result is to delete the
// object: its last finalizer went away while it was being deleted.
type deleteInstead struct{ rv string }

func (deleteInstead) Error() string { return "delete instead" }

// update runs one read-modify-write of an object with Kubernetes' update
// rules, retried by storage on concurrent changes.
func (s *Store) update(ctx context.Context, namespace, name string, w write, desired desiredFunc) (runtime.Object, bool, error) {
	key := s.key(namespace, name)
	var finish func(bool)
	created := false
	var ttl int64
	if s.res.TTL != nil {
		ttl = s.res.TTL(s.res.New())
	}
	out, err := s.cfg.Storage.Update(ctx, key, store.UpdateOptions{CreateMissing: w.createOK, TTL: ttl}, func(storedCur runtime.Object) (runtime.Object, error) {
		if finish != nil {
			finish(false)
			finish = nil
		}
		cur, err := s.conv.fromStored(storedCur)
		if err != nil {
			return nil, err
		}
		obj, err := desired(cur)
		if err != nil {
			return nil, err
		}
		var a *Attributes
		if cur == nil {
			created = true
			if obj, err = s.prepareCreateFrom(ctx, obj, w); err != nil {
				return nil, err
			}
			a = &Attributes{Operation: Create, Resource: s.res, Namespace: namespace, Name: name, Object: obj, DryRun: w.dryRun}
		} else {
			created = false
			if obj, err = s.prepareUpdate(ctx, obj, cur, w); err != nil {
				return nil, err
			}
			a = &Attributes{Operation: Update, Resource: s.res, Subresource: w.sub, Namespace: namespace, Name: name, Object: obj, Old: cur, DryRun: w.dryRun}
		}
		if err := s.admit(ctx, a); err != nil {
			return nil, err
		}
		if cur == nil && s.res.BeginCreate != nil {
			if finish, err = s.res.BeginCreate(ctx, obj, w.dryRun); err != nil {
				return nil, err
			}
		} else if cur != nil && s.res.BeginUpdate != nil {
			if finish, err = s.res.BeginUpdate(ctx, obj, cur, w.dryRun); err != nil {
				return nil, err
			}
		}
		if cur != nil && s.deletesOnUpdate(obj, cur) {
			m, _ := meta.Accessor(cur)
			return nil, deleteInstead{rv: m.GetResourceVersion()}
		}
		if w.dryRun {
			return nil, dryRunResult{obj}
		}
		return s.conv.toStored(obj)
	})
	if finish != nil {
		finish(err == nil)
	}
	var dr dryRunResult
	if errors.As(err, &dr) {
		return dr.obj, created, nil
	}
	var di deleteInstead
	if errors.As(err, &di) {
		obj, err := s.deleteNow(ctx, namespace, name, di.rv, w.dryRun)
		if errors.Is(err, errChanged) {
			return nil, false, apierrors.NewConflict(s.qualifiedResource(), name, errors.New(conflictMessage))
		}
		return obj, false, err
	}
	if err != nil {
		return nil, false, s.storeError(err, name)
	}
	obj, err := s.conv.fromStored(out)
	return obj, created, err
}

// prepareCreateFrom prepares an object that an update or apply creates.
// Server-side apply has recorded the managed fields already.
func (s *Store) prepareCreateFrom(ctx context.Context, obj runtime.Object, w write) (runtime.Object, error) {
	return s.prepareCreate(ctx, obj, w.manager, !w.applied, w.dryRun)
}

// prepareUpdate applies Kubernetes' update rules to obj, the desired state
// of cur: preconditions, system metadata kept from cur, defaults, the
// resource's update strategy, managed fields and validation.
func (s *Store) prepareUpdate(ctx context.Context, obj, cur runtime.Object, w write) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	old, _ := meta.Accessor(cur)
	if rv := m.GetResourceVersion(); rv != "" && rv != old.GetResourceVersion() {
		return nil, apierrors.NewConflict(s.qualifiedResource(), old.GetName(), errors.New(conflictMessage))
	}
	if uid := m.GetUID(); uid != "" && uid != old.GetUID() {
		return nil, apierrors.NewConflict(s.qualifiedResource(), old.GetName(), fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, old.GetUID()))
	}
	m.SetUID(old.GetUID())
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	m.SetGeneration(old.GetGeneration())
	m.SetResourceVersion(old.GetResourceVersion())
	m.SetSelfLink("")
	if s.res.Default != nil {
		s.res.Default(obj)
	}
	switch {
	case w.raw:
	case w.sub == "status":
		if s.res.Status.PrepareForUpdate != nil {
			s.res.Status.PrepareForUpdate(ctx, obj, cur)
		} else if obj, err = onlyStatusChanged(obj, cur); err != nil {
			return nil, err
		}
	default:
		if s.res.PrepareForUpdate != nil {
			s.res.PrepareForUpdate(ctx, obj, cur)
		} else if s.res.Status != nil {
			if obj, err = keepStatus(obj, cur); err != nil {
				return nil, err
			}
		}
	}
	if s.cfg.Mutation != nil && !w.raw {
		a := &Attributes{Operation: Update, Resource: s.res, Subresource: w.sub, Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj, Old: cur, DryRun: w.dryRun}
		if err := s.cfg.Mutation.Admit(ctx, a); err != nil {
			return nil, err
		}
	}
	if fm := s.field.forSubresource(w.sub); fm != nil && !w.applied && !w.raw {
		if obj, err = fm.Update(cur, obj, w.manager); err != nil {
			return nil, err
		}
	}
	m, _ = meta.Accessor(obj)
	errs := apivalidation.ValidateObjectMetaAccessorUpdate(m, old, field.NewPath("metadata"))
	errs = append(errs, apivalidation.ValidateObjectMetaAccessor(m, s.res.Namespaced, s.nameFunc(), field.NewPath("metadata"))...)
	switch {
	case w.raw:
	case w.sub == "status" && s.res.Status.ValidateUpdate != nil:
		errs = append(errs, s.res.Status.ValidateUpdate(ctx, obj, cur)...)
	case w.sub == "" && s.res.ValidateUpdate != nil:
		errs = append(errs, s.res.ValidateUpdate(ctx, obj, cur)...)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(s.res.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	return obj, nil
}

// deletesOnUpdate reports whether an update removed what held an object
// marked for deletion, so that it must now go.
func (s *Store) deletesOnUpdate(obj, cur runtime.Object) bool {
	m, _ := meta.Accessor(obj)
	old, _ := meta.Accessor(cur)
	if old.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	// Objects waiting out a grace period (pods) go when their deleter says
	// so, not when an update happens to remove the last finalizer.
	if g := old.GetDeletionGracePeriodSeconds(); g != nil && *g != 0 {
		return false
	}
	return s.res.Finalizing == nil || !s.res.Finalizing(obj)
}
