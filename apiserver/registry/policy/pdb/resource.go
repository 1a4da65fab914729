package pdb

import (
	"context"
	"fmt"
	"strconv"

	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of policy/v1 poddisruptionbudgets.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "policy",
		Version:    "v1",
		Resource:   "poddisruptionbudgets",
		Kind:       "PodDisruptionBudget",
		ListKind:   "PodDisruptionBudgetList",
		Singular:   "poddisruptionbudget",
		ShortNames: []string{"pdb"},
		Namespaced: true,

		New:     func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },

		// Kubernetes' PDB validation checks no metadata, so only the generic
		// path-segment rule applies to names.
		ValidateName:     path.ValidatePathSegmentName,
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Min Available", Type: "string", Description: "The minimum number of pods that must be available."},
			{Name: "Max Unavailable", Type: "string", Description: "The maximum number of pods that may be unavailable."},
			{Name: "Allowed Disruptions", Type: "integer", Description: "Calculated number of pods that may be disrupted at this time."},
			registry.AgeColumn,
		},
		Cells: cells,

		Status: &registry.StatusSubresource{ValidateUpdate: validateStatusUpdate},
	}
}

func prepareForCreate(_ context.Context, obj runtime.Object) {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{}
	pdb.Generation = 1
}

func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	pdb, ok1 := obj.(*policyv1.PodDisruptionBudget)
	oldPDB, ok2 := old.(*policyv1.PodDisruptionBudget)
	if !ok1 || !ok2 {
		return
	}
	pdb.Status = oldPDB.Status
	if !apiequality.Semantic.DeepEqual(pdb.Spec, oldPDB.Spec) {
		pdb.Generation = oldPDB.Generation + 1
	}
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(obj)
	}
	return validateSpec(&pdb.Spec, false, field.NewPath("spec"))
}

// validateUpdate accepts selector values that were already invalid in the
// stored object.
func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(obj)
	}
	oldPDB, ok := old.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(old)
	}
	return validateSpec(&pdb.Spec, metav1validation.LabelSelectorHasInvalidLabelValue(oldPDB.Spec.Selector), field.NewPath("spec"))
}

var evictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

func validateSpec(spec *policyv1.PodDisruptionBudgetSpec, allowInvalidLabelValue bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		allErrs = append(allErrs, validateIntOrPercent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		allErrs = append(allErrs, validateIntOrPercent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidLabelValue}
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, opts, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.AlwaysAllow && *p != policyv1.IfHealthyBudget {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, evictionPolicies))
	}
	return allErrs
}

// validateIntOrPercent requires a non-negative integer or a percentage of
// at most 100%.
func validateIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch v.Type {
	case intstr.String:
		msgs := validation.IsValidPercent(v.StrVal)
		for _, msg := range msgs {
			allErrs = append(allErrs, field.Invalid(fldPath, v, msg))
		}
		if len(msgs) == 0 {
			if pct, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1]); pct > 100 {
				allErrs = append(allErrs, field.Invalid(fldPath, v, "must not be greater than 100%"))
			}
		}
	case intstr.Int:
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(v.IntValue()), fldPath)...)
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')"))
	}
	return allErrs
}

func validateStatusUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(obj)
	}
	s, fldPath := pdb.Status, field.NewPath("status")
	allErrs := metav1validation.ValidateConditions(s.Conditions, fldPath.Child("conditions"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.DisruptionsAllowed), fldPath.Child("disruptionsAllowed"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.CurrentHealthy), fldPath.Child("currentHealthy"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.DesiredHealthy), fldPath.Child("desiredHealthy"))...)
	return append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.ExpectedPods), fldPath.Child("expectedPods"))...)
}

func cells(obj runtime.Object) []interface{} {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil
	}
	minAvailable, maxUnavailable := "N/A", "N/A"
	if pdb.Spec.MinAvailable != nil {
		minAvailable = pdb.Spec.MinAvailable.String()
	}
	if pdb.Spec.MaxUnavailable != nil {
		maxUnavailable = pdb.Spec.MaxUnavailable.String()
	}
	return []interface{}{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), registry.Age(pdb.CreationTimestamp)}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
