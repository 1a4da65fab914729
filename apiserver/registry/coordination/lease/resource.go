package lease

import (
	"context"
	"fmt"
	"slices"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of coordination.k8s.io/v1 leases.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "coordination.k8s.io",
		Version:    "v1",
		Resource:   "leases",
		Kind:       "Lease",
		ListKind:   "LeaseList",
		Singular:   "lease",
		Namespaced: true,

		New:     func() runtime.Object { return &coordinationv1.Lease{} },
		NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },

		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
			registry.AgeColumn,
		},
		Cells: cells,

		AllowCreateOnUpdate: true,
	}
}

// prepareForCreate drops the coordinated leader election fields: the
// CoordinatedLeaderElection gate is off by default in Kubernetes 1.33.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	if l, ok := obj.(*coordinationv1.Lease); ok {
		l.Spec.Strategy = nil
		l.Spec.PreferredHolder = nil
	}
}

// prepareForUpdate drops those fields unless the stored lease has them.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	l, ok1 := obj.(*coordinationv1.Lease)
	oldL, ok2 := old.(*coordinationv1.Lease)
	if !ok1 || !ok2 {
		return
	}
	if oldL.Spec.Strategy == nil {
		l.Spec.Strategy = nil
	}
	if oldL.Spec.PreferredHolder == nil {
		l.Spec.PreferredHolder = nil
	}
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return wrongType(obj)
	}
	return validateSpec(&l.Spec, field.NewPath("spec"))
}

func validateUpdate(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
	return validateCreate(ctx, obj)
}

var validStrategies = []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}

func validateSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		allErrs = append(allErrs, validateStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}

// validateStrategy accepts Kubernetes' strategies and domain-qualified
// custom ones. The doubled "strategy" in the path is Kubernetes' own.
func validateStrategy(strategy coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if !strings.Contains(string(strategy), "/") {
		if !slices.Contains(validStrategies, strategy) {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("strategy"), strategy, validStrategies))
		}
		return allErrs
	}
	for _, msg := range validation.IsQualifiedName(string(strategy)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("strategy"), strategy, msg))
	}
	return allErrs
}

func cells(obj runtime.Object) []interface{} {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []interface{}{l.Name, holder, registry.Age(l.CreationTimestamp)}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
