package generic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/watch"

	"berth/apiserver/registry"
	"berth/store"
)

// Admission checks or adjusts a write: mutating admission runs after the
// object is defaulted and prepared, before validation; validating
// admission runs after validation.
type Admission interface {
	Admit(ctx context.Context, a *Attributes) error
}

// Operation is what a write does.
type Operation string

// The operations admission sees.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Attributes describe a write for admission.
type Attributes struct {
	Operation   Operation
	Resource    *registry.Resource
	Subresource string
	Namespace   string
	Name        string
	// Object is the object to store (nil for deletes); Old the stored one.
	Object, Old runtime.Object
	DryRun      bool
}

// Config configures a Store.
type Config struct {
	Resource *registry.Resource
	// Storage keeps the objects (normally a watch cache).
	Storage store.Interface
	// Prefix is the storage key prefix of the resource, ending in "/".
	Prefix string
	// Scheme knows the Go types (for conversion and managed fields).
	Scheme *runtime.Scheme
	// TypeConverter maps objects to structured-merge-diff values for
	// server-side apply and managedFields.
	TypeConverter managedfields.TypeConverter
	// Mutation, if set, adjusts writes before validation.
	Mutation Admission
	// Admission, if set, checks writes after validation.
	Admission Admission
	// Now returns the current time (tests set it).
	Now func() time.Time
}

// Store serves one resource's verbs on top of storage with Kubernetes'
// semantics: defaults, validation, optimistic concurrency, managed fields,
// graceful deletion and finalizers.
type Store struct {
	cfg   Config
	res   *registry.Resource
	conv  *converter
	field *fieldManagers
}

var _ registry.Objects = (*Store)(nil)

// New returns a Store for one resource.
func New(cfg Config) (*Store, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg, res: cfg.Resource, conv: newConverter(cfg.Resource)}
	fm, err := newFieldManagers(cfg)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", cfg.Resource.GroupResource(), err)
	}
	s.field = fm
	return s, nil
}

// Resource returns the resource the store serves.
func (s *Store) Resource() *registry.Resource { return s.res }

func (s *Store) key(namespace, name string) string {
	if s.res.Namespaced {
		return s.cfg.Prefix + namespace + "/" + name
	}
	return s.cfg.Prefix + name
}

func (s *Store) listPrefix(namespace string) string {
	if s.res.Namespaced && namespace != "" {
		return s.cfg.Prefix + namespace + "/"
	}
	return s.cfg.Prefix
}

// qualifiedResource is what error messages name: "deployments.apps".
func (s *Store) qualifiedResource() schema.GroupResource { return s.res.GroupResource() }

// Get returns the object (a consistent read). It may be shared with the
// watch cache: callers must not modify it.
func (s *Store) Get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	obj, err := s.cfg.Storage.Get(ctx, s.key(namespace, name))
	if err != nil {
		return nil, s.storeError(err, name)
	}
	return s.conv.fromStored(obj)
}

// cachedGetter is a storage that can answer from memory.
type cachedGetter interface {
	GetCached(key string) (runtime.Object, bool)
}

// GetCached returns the object from the watch cache when it is there (it
// may lag behind a write just made), else reads it from storage. The
// result must not be modified.
func (s *Store) GetCached(ctx context.Context, namespace, name string) (runtime.Object, error) {
	if c, ok := s.cfg.Storage.(cachedGetter); ok {
		if obj, ok := c.GetCached(s.key(namespace, name)); ok {
			return s.conv.fromStored(obj)
		}
	}
	return s.Get(ctx, namespace, name)
}

// List returns the objects in namespace ("" for all) as a list object.
func (s *Store) List(ctx context.Context, namespace string, opts *metav1.ListOptions) (runtime.Object, error) {
	lopts, err := s.listOptions(opts)
	if err != nil {
		return nil, err
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	res, err := s.cfg.Storage.List(ctx, s.listPrefix(namespace), lopts)
	var expiredContinue *store.ContinueExpiredError
	switch {
	case errors.As(err, &expiredContinue):
		e := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		e.ErrStatus.ListMeta.Continue = expiredContinue.Continue
		return nil, e
	case errors.Is(err, store.ErrExpired):
		return nil, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case err != nil:
		return nil, s.storeError(err, "")
	}
	list := s.res.NewList()
	items := make([]runtime.Object, 0, len(res.Items))
	for _, it := range res.Items {
		obj, err := s.conv.fromStored(it)
		if err != nil {
			return nil, err
		}
		items = append(items, obj)
	}
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	lm.SetResourceVersion(fmt.Sprint(res.ResourceVersion))
	lm.SetContinue(res.Continue)
	lm.SetRemainingItemCount(res.RemainingItemCount)
	return list, nil
}

// Watch streams changes in namespace ("" for all).
func (s *Store) Watch(ctx context.Context, namespace string, opts *metav1.ListOptions) (watch.Interface, error) {
	lopts, err := s.listOptions(opts)
	if err != nil {
		return nil, err
	}
	w, err := s.cfg.Storage.Watch(ctx, s.listPrefix(namespace), store.WatchOptions{
		ResourceVersion:   opts.ResourceVersion,
		Predicate:         lopts.Predicate,
		SendInitialEvents: opts.SendInitialEvents,
		AllowBookmarks:    opts.AllowWatchBookmarks,
	})
	if err != nil {
		return nil, s.storeError(err, "")
	}
	if s.res.Storage == nil {
		return w, nil
	}
	return watch.Filter(w, func(in watch.Event) (watch.Event, bool) {
		if in.Type == watch.Bookmark || in.Type == watch.Error {
			return in, true
		}
		obj, err := s.conv.fromStored(in.Object)
		if err != nil {
			return in, false
		}
		in.Object = obj
		return in, true
	}), nil
}

// listOptions checks request options as Kubernetes' ValidateListOptions
// does and turns them into storage options.
func (s *Store) listOptions(opts *metav1.ListOptions) (store.ListOptions, error) {
	var internal metainternalversion.ListOptions
	if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(opts, &internal, nil); err != nil {
		return store.ListOptions{}, apierrors.NewBadRequest(err.Error())
	}
	if errs := metainternalvalidation.ValidateListOptions(&internal, true); len(errs) > 0 {
		return store.ListOptions{}, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	out := store.ListOptions{
		ResourceVersion:      opts.ResourceVersion,
		ResourceVersionMatch: opts.ResourceVersionMatch,
		Limit:                opts.Limit,
		Continue:             opts.Continue,
	}
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return out, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		out.Predicate.Label = sel
	}
	if opts.FieldSelector != "" {
		sel, err := fields.ParseSelector(opts.FieldSelector)
		if err != nil {
			return out, apierrors.NewBadRequest(err.Error())
		}
		if err := s.checkFieldSelector(sel); err != nil {
			return out, err
		}
		out.Predicate.Field = sel
	}
	out.Predicate.Attrs = s.attrs
	return out, nil
}

// checkFieldSelector refuses fields the resource cannot select on, with
// Kubernetes' messages: resources with selectable fields of their own say
// "field label not supported", the others list metadata.name and
// metadata.namespace.
func (s *Store) checkFieldSelector(sel fields.Selector) error {
	known := s.fieldSet(s.res.New())
	for _, r := range sel.Requirements() {
		if _, ok := known[r.Field]; ok {
			continue
		}
		if s.res.Fields != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%q is not a known field selector: only %q, %q", r.Field, "metadata.name", "metadata.namespace"))
	}
	return nil
}

// attrs returns the labels and selectable fields of a stored object.
func (s *Store) attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	obj, err := s.conv.fromStored(obj)
	if err != nil {
		return nil, nil, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	return labels.Set(m.GetLabels()), s.fieldSet(obj), nil
}

func (s *Store) fieldSet(obj runtime.Object) fields.Set {
	set := fields.Set{}
	if s.res.Fields != nil {
		for k, v := range s.res.Fields(obj) {
			set[k] = v
		}
	}
	if m, err := meta.Accessor(obj); err == nil {
		set["metadata.name"] = m.GetName()
		if s.res.Namespaced {
			set["metadata.namespace"] = m.GetNamespace()
		}
	}
	return set
}

// storeError turns a storage error into the API error Kubernetes returns.
func (s *Store) storeError(err error, name string) error {
	var status apierrors.APIStatus
	switch {
	case errors.As(err, &status):
		return err
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(s.qualifiedResource(), name)
	case errors.Is(err, store.ErrExists):
		return apierrors.NewAlreadyExists(s.qualifiedResource(), name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(s.qualifiedResource(), name, errors.New(conflictMessage))
	case errors.Is(err, store.ErrExpired):
		return apierrors.NewResourceExpired("too old resource version: " + strings.TrimPrefix(err.Error(), store.ErrExpired.Error()+": "))
	case errors.Is(err, store.ErrInvalidContinue):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, store.ErrInvalidResourceVersion):
		return apierrors.NewBadRequest(err.Error())
	case errors.As(err, new(*store.TooLargeResourceVersionError)):
		e := apierrors.NewTimeoutError(err.Error(), 1)
		e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version",
		})
		return e
	case errors.Is(err, store.ErrUnavailable):
		return apierrors.NewServiceUnavailable(err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(err.Error(), 0)
	}
	return apierrors.NewInternalError(err)
}

const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"
