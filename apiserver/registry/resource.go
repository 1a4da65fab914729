package registry

import (
	"context"
	"net/http"

	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one API resource: its names, its Go types, and the rules
// (defaults, validation, table columns, subresources) that make it behave as it
// does in Kubernetes. One generic Store serves every Resource; a resource
// package only fills in this struct. Hooks left nil do nothing.
type Resource struct {
	Group      string // "" for the core group
	Version    string // the served version, e.g. "v1"
	Resource   string // plural, lower case: "deployments"
	Kind       string // "Deployment"
	ListKind   string // "DeploymentList"
	Singular   string // "deployment"
	ShortNames []string
	Categories []string // e.g. "all"
	Namespaced bool

	// New and NewList return empty objects of the served version.
	New     func() runtime.Object
	NewList func() runtime.Object

	// ValidateName checks metadata.name (and generateName with prefix=true).
	// Nil means a DNS-1123 subdomain, as for most Kubernetes resources.
	ValidateName validation.ValidateNameFunc

	// Default fills in defaults as Kubernetes' defaulting functions do. It runs
	// on every object decoded from a request (after a patch is applied) and
	// on objects read from storage.
	Default func(obj runtime.Object)

	// PrepareForCreate normalises a new object before validation, e.g. resets
	// status and sets metadata.generation. System metadata (uid,
	// creationTimestamp, ...) is already filled in by the generic store.
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate normalises an update of the main resource, e.g. keeps
	// status from old when the resource has a status subresource, and bumps
	// metadata.generation when the spec changed.
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)

	// Validate and ValidateUpdate check the object beyond metadata (metadata
	// is validated generically). Field paths and messages follow Kubernetes.
	Validate       func(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList

	// Columns and Cells make the server-side Table used by `kubectl get`.
	// Cells returns one value per column (usually the name first). Columns
	// with Priority > 0 show only with -o wide.
	Columns []metav1.TableColumnDefinition
	Cells   func(obj runtime.Object) []interface{}

	// Fields returns the fields selectable with a field selector besides
	// metadata.name and metadata.namespace (for example spec.nodeName).
	Fields func(obj runtime.Object) fields.Set

	// Status, if set, enables the status subresource: the main resource then
	// ignores changes to status and /status changes only status.
	Status *StatusSubresource
	// Scale, if set, enables the scale subresource (autoscaling/v1 Scale).
	Scale *ScaleSubresource
	// Extra holds other subresources (binding, eviction, finalize, ...).
	Extra []Subresource

	// AllowCreateOnUpdate lets PUT create a missing object (endpoints, leases).
	AllowCreateOnUpdate bool

	// GracefulDelete decides, for a DELETE of obj, whether the object is kept
	// with deletionTimestamp set for a grace period, and may adjust the
	// options' grace period. Nil means objects are deleted at once (unless
	// finalizers hold them).
	GracefulDelete func(obj runtime.Object, opts *metav1.DeleteOptions) bool
	// PrepareForDelete adjusts an object that a DELETE marks for deletion
	// (deletionTimestamp set but kept), e.g. a namespace turns Terminating.
	PrepareForDelete func(obj runtime.Object)
	// Finalizing reports whether resource-specific finalization still holds
	// an object marked for deletion, besides metadata.finalizers (namespaces:
	// spec.finalizers). Nil means nothing does.
	Finalizing func(obj runtime.Object) bool
	// DefaultPropagation is the deletion propagation policy when the request
	// names none. Empty means Background.
	DefaultPropagation metav1.DeletionPropagation

	// ReturnDeletedObject answers a delete that removed the object with the
	// object rather than a Status, as Kubernetes' storage of pods, services,
	// service accounts and namespaces does.
	ReturnDeletedObject bool
	// NoDeleteCollection: the resource does not serve deletecollection
	// (namespaces).
	NoDeleteCollection bool

	// TTL, if set, returns the seconds after which storage drops the object
	// (events).
	TTL func(obj runtime.Object) int64

	// BeginCreate and BeginUpdate run before the object is stored, after
	// validation (e.g. allocate a ClusterIP). The returned finish function is
	// called with whether the write succeeded, so that allocations can be
	// released on failure. AfterDelete runs once an object is gone.
	BeginCreate func(ctx context.Context, obj runtime.Object, dryRun bool) (finish func(ok bool), err error)
	BeginUpdate func(ctx context.Context, obj, old runtime.Object, dryRun bool) (finish func(ok bool), err error)
	AfterDelete func(ctx context.Context, obj runtime.Object)

	// Storage, if set, stores this resource in another resource's storage
	// (another version of the same data: events.k8s.io/v1 events are kept as
	// core/v1 events). Nil means the resource has storage of its own.
	Storage *SharedStorage
}

// StatusSubresource describes the status subresource.
type StatusSubresource struct {
	// PrepareForUpdate makes obj differ from old only in status (the generic
	// default copies everything but status and metadata from old).
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)
	// ValidateUpdate checks a status update.
	ValidateUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// ScaleSubresource maps an object onto autoscaling/v1 Scale.
type ScaleSubresource struct {
	// Get returns the desired and observed replicas and the label selector
	// (in its string form, for status.selector).
	Get func(obj runtime.Object) (spec, status int32, selector string)
	// Set sets the desired replicas.
	Set func(obj runtime.Object, replicas int32)
}

// SharedStorage keeps a resource in the storage of another one.
type SharedStorage struct {
	// Resource is the group and resource whose storage is used.
	Resource schema.GroupResource
	// ToStored converts an object of this resource to the stored type;
	// FromStored converts back.
	ToStored   func(obj runtime.Object) (runtime.Object, error)
	FromStored func(obj runtime.Object) (runtime.Object, error)
}

// Subresource is a subresource with its own handler, such as pods/binding.
type Subresource struct {
	Name string
	// Kind is the kind of the request and response body.
	Kind schema.GroupVersionKind
	// Verbs the subresource serves: "create", "get", "update", "patch".
	Verbs []string
	// New returns an empty request body.
	New func() runtime.Object
	// Get, Create and Update serve the verbs; a patch is served as Get then
	// Update. They receive the objects of the parent resource.
	Get    func(ctx context.Context, objs Objects, namespace, name string) (runtime.Object, error)
	Create func(ctx context.Context, objs Objects, namespace, name string, body runtime.Object, opts *metav1.CreateOptions) (runtime.Object, error)
	Update func(ctx context.Context, objs Objects, namespace, name string, body runtime.Object, opts *metav1.UpdateOptions) (runtime.Object, error)
	// Connect, if set, answers the request itself (GET and POST, with
	// upgrades for streams): pods/log, exec, attach, portforward and
	// nodes/proxy, which the API server proxies to the node agent. It
	// takes precedence over Get and Create. An error it returns before
	// writing anything is answered as a Status.
	Connect func(ctx context.Context, objs Objects, namespace, name string, w http.ResponseWriter, r *http.Request) error
}

// Objects reads and writes the objects of one resource. The generic store
// implements it for subresource handlers.
type Objects interface {
	// Get returns the current object (consistent read); it must not be
	// modified.
	Get(ctx context.Context, namespace, name string) (runtime.Object, error)
	// Modify applies fn to (a copy of) the current object and stores the
	// result, retrying on conflicting writes. System metadata is kept, but
	// the resource's update strategy and validation are bypassed, as for
	// Kubernetes' binding subresource: the handler is responsible.
	Modify(ctx context.Context, namespace, name string, fn func(obj runtime.Object) (runtime.Object, error)) (runtime.Object, error)
	// Delete deletes the object as a DELETE request with opts would, and
	// reports whether it is gone (rather than marked for deletion).
	Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error)
}

// Verbs returns the verbs the resource serves, sorted as discovery lists
// them.
func (r *Resource) Verbs() []string {
	if r.NoDeleteCollection {
		return []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	}
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

// GroupVersion returns the resource's group and version.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GroupVersionKind returns the resource's kind.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// GroupVersionResource returns the resource's group, version and plural name.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion().WithResource(r.Resource)
}

// GroupResource returns the resource's group and plural name.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}
