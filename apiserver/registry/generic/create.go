package generic

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/store"
)

// generateNameAttempts is how often a create with generateName tries a new
// name when the generated one is taken, as Kubernetes retries.
const generateNameAttempts = 8

// Create stores a new object in namespace.
func (s *Store) Create(ctx context.Context, namespace string, obj runtime.Object, opts *metav1.CreateOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := s.checkNamespace(m, namespace); err != nil {
		return nil, err
	}
	dryRun := len(opts.DryRun) > 0
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	if generated {
		m.SetName(generateName(m.GetGenerateName()))
	}
	obj, err = s.prepareCreate(ctx, obj, opts.FieldManager, true, dryRun)
	if err != nil {
		return nil, err
	}
	if err := s.admit(ctx, &Attributes{Operation: Create, Resource: s.res, Namespace: namespace, Name: m.GetName(), Object: obj, DryRun: dryRun}); err != nil {
		return nil, err
	}
	var finish func(bool)
	if s.res.BeginCreate != nil {
		if finish, err = s.res.BeginCreate(ctx, obj, dryRun); err != nil {
			return nil, err
		}
	}
	if dryRun {
		if finish != nil {
			finish(false)
		}
		// A dry run answers as the write would: 409 if the name is taken.
		if _, err := s.cfg.Storage.Get(ctx, s.key(m.GetNamespace(), m.GetName())); err == nil {
			return nil, apierrors.NewAlreadyExists(s.qualifiedResource(), m.GetName())
		}
		return obj, nil
	}
	out, err := s.store(ctx, obj, generated)
	if finish != nil {
		finish(err == nil)
	}
	return out, err
}

// prepareCreate fills in system metadata, defaults and prepares a new object,
// records its managed fields (unless apply did) and validates it.
func (s *Store) prepareCreate(ctx context.Context, obj runtime.Object, manager string, recordManaged, dryRun bool) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(s.cfg.Now().Truncate(1e9)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetSelfLink("")
	m.SetGeneration(0)
	if s.res.Default != nil {
		s.res.Default(obj)
	}
	if s.res.PrepareForCreate != nil {
		s.res.PrepareForCreate(ctx, obj)
	}
	if s.cfg.Mutation != nil {
		a := &Attributes{Operation: Create, Resource: s.res, Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj, DryRun: dryRun}
		if err := s.cfg.Mutation.Admit(ctx, a); err != nil {
			return nil, err
		}
	}
	if fm := s.field.main; fm != nil && recordManaged {
		live := s.res.New()
		live.GetObjectKind().SetGroupVersionKind(s.res.GroupVersionKind())
		if obj, err = fm.Update(live, obj, manager); err != nil {
			return nil, err
		}
	}
	if err := s.validateCreate(ctx, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *Store) validateCreate(ctx context.Context, obj runtime.Object) error {
	m, _ := meta.Accessor(obj)
	errs := apivalidation.ValidateObjectMetaAccessor(m, s.res.Namespaced, s.nameFunc(), field.NewPath("metadata"))
	if s.res.Validate != nil {
		errs = append(errs, s.res.Validate(ctx, obj)...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.res.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	return nil
}

func (s *Store) nameFunc() apivalidation.ValidateNameFunc {
	if s.res.ValidateName != nil {
		return s.res.ValidateName
	}
	return apivalidation.NameIsDNSSubdomain
}

// store writes a prepared object, generating another name when a generated
// one is taken.
func (s *Store) store(ctx context.Context, obj runtime.Object, generated bool) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	var ttl int64
	if s.res.TTL != nil {
		ttl = s.res.TTL(obj)
	}
	for attempt := 1; ; attempt++ {
		stored, err := s.conv.toStored(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		out, err := s.cfg.Storage.Create(ctx, s.key(m.GetNamespace(), m.GetName()), stored, ttl)
		if errors.Is(err, store.ErrExists) && generated && attempt < generateNameAttempts {
			m.SetName(generateName(m.GetGenerateName()))
			continue
		}
		if err != nil {
			if errors.Is(err, store.ErrExists) && generated {
				return nil, apierrors.NewAlreadyExists(s.qualifiedResource(), m.GetName())
			}
			return nil, s.storeError(err, m.GetName())
		}
		return s.conv.fromStored(out)
	}
}

// checkNamespace reconciles the object's namespace with the request's.
func (s *Store) checkNamespace(m metav1.Object, namespace string) error {
	if !s.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	switch m.GetNamespace() {
	case "":
		m.SetNamespace(namespace)
	case namespace:
	default:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// admit runs validating admission.
func (s *Store) admit(ctx context.Context, a *Attributes) error {
	if s.cfg.Admission == nil {
		return nil
	}
	return s.cfg.Admission.Admit(ctx, a)
}

// generateName appends five random characters to base, as Kubernetes'
// name generator does (trimming base so the name stays within 63 chars).
func generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return base + utilrand.String(5)
}
