package namespace

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of core/v1 namespaces.
func Resource() *registry.Resource {
	return &registry.Resource{
		Version:             "v1",
		Resource:            "namespaces",
		Kind:                "Namespace",
		ListKind:            "NamespaceList",
		Singular:            "namespace",
		ShortNames:          []string{"ns"},
		Namespaced:          false,
		ReturnDeletedObject: true,
		NoDeleteCollection:  true,
		New:                 func() runtime.Object { return &corev1.Namespace{} },
		NewList:             func() runtime.Object { return &corev1.NamespaceList{} },
		ValidateName:        apimachineryvalidation.ValidateNamespaceName,
		Default:             func(obj runtime.Object) { Default(obj.(*corev1.Namespace)) },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			prepareForCreate(obj.(*corev1.Namespace))
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			prepareForUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validate(obj.(*corev1.Namespace))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validate(obj.(*corev1.Namespace))
		},
		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Status", Type: "string", Description: "The status of the namespace"},
			registry.AgeColumn,
		},
		Cells: func(obj runtime.Object) []interface{} {
			ns := obj.(*corev1.Namespace)
			return []interface{}{ns.Name, string(ns.Status.Phase), registry.Age(ns.CreationTimestamp)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			ns := obj.(*corev1.Namespace)
			// "name" is a historical duplicate of metadata.name that
			// Kubernetes keeps for compatibility.
			return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
		},
		Status: &registry.StatusSubresource{
			ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
				return validateStatus(obj.(*corev1.Namespace))
			},
		},
		// A namespace is not deleted after a grace period (GracefulDelete
		// stays nil) but once spec.finalizers is empty: DELETE marks it
		// Terminating, the namespace controller empties it and removes
		// "kubernetes" through the finalize subresource, and the store then
		// removes it.
		PrepareForDelete: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status.Phase = corev1.NamespaceTerminating
			// A namespace records only when its deletion began.
			ns.DeletionGracePeriodSeconds = nil
		},
		Finalizing: func(obj runtime.Object) bool {
			return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0
		},
		Extra: []registry.Subresource{finalizeSubresource()},
	}
}

// finalizeSubresource serves PUT namespaces/{name}/finalize, through which
// spec.finalizers changes.
func finalizeSubresource() registry.Subresource {
	return registry.Subresource{
		Name:  "finalize",
		Kind:  corev1.SchemeGroupVersion.WithKind("Namespace"),
		Verbs: []string{"update"},
		New:   func() runtime.Object { return &corev1.Namespace{} },
		Update: func(ctx context.Context, objs registry.Objects, _, name string, body runtime.Object, _ *metav1.UpdateOptions) (runtime.Object, error) {
			req, ok := body.(*corev1.Namespace)
			if !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Namespace, got %T", body))
			}
			if req.Name != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", req.Name, name))
			}
			return objs.Modify(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
				ns := req.DeepCopy()
				Default(ns)
				PrepareForFinalize(ctx, ns, cur)
				if errs := ValidateFinalize(ctx, ns, cur); len(errs) > 0 {
					return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind(), name, errs)
				}
				return ns, nil
			})
		},
	}
}

// Default sets the defaults Kubernetes gives a namespace: the
// kubernetes.io/metadata.name label (once the name is known) and the Active
// phase.
func Default(ns *corev1.Namespace) {
	setNameLabel(ns)
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// setNameLabel keeps the kubernetes.io/metadata.name label equal to the name.
func setNameLabel(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func prepareForCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	hasKube := false
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			hasKube = true
			break
		}
	}
	if !hasKube {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	setNameLabel(ns)
}

func prepareForUpdate(ns, old *corev1.Namespace) {
	// spec.finalizers changes only through the finalize subresource.
	ns.Spec.Finalizers = old.Spec.Finalizers
	ns.Status = old.Status
	setNameLabel(ns)
}

func validate(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	// Kubernetes reports these without an index.
	for _, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return errs
}

func validateStatus(ns *corev1.Namespace) field.ErrorList {
	// The capital P in "Phase" is Kubernetes' own.
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}

// validateFinalizerName checks a finalizer: a qualified name, and without a
// domain one of the standard finalizers.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	standard := sets.New(string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)
	if !strings.Contains(name, "/") && !standard.Has(name) {
		errs = append(errs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

// PrepareForFinalize normalises a write to namespaces/{name}/finalize: only
// spec.finalizers (and metadata) may change, status stays as stored.
func PrepareForFinalize(_ context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Status = oldNS.Status
	setNameLabel(ns)
}

// ValidateFinalize checks a write to namespaces/{name}/finalize.
func ValidateFinalize(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	var errs field.ErrorList
	fldPath := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), fldPath.Index(i))...)
	}
	return errs
}
