package daemonset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry/apps/appsrules"
	podvalidation "berth/apiserver/validation"
)

// Validate checks a new DaemonSet beyond its metadata.
func Validate(ds *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateTemplateGeneration(ds)
	allErrs = append(allErrs, validateSpec(&ds.Spec, metav1validation.LabelSelectorValidationOptions{}, appsrules.TemplateOptions(nil), field.NewPath("spec"))...)
	return allErrs
}

// ValidateUpdate checks an updated DaemonSet: the new spec must be valid and
// the selector must not change. Label values that were already accepted in
// the stored selector stay accepted.
func ValidateUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector),
	}
	allErrs := validateTemplateGeneration(ds)
	allErrs = append(allErrs, validateSpec(&ds.Spec, opts, appsrules.TemplateOptions(&old.Spec.Template), field.NewPath("spec"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(ds.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	return allErrs
}

// validateTemplateGeneration checks the annotation that carries the
// template generation in apps/v1 (Kubernetes rejects objects whose value
// does not parse when it converts them).
func validateTemplateGeneration(ds *appsv1.DaemonSet) field.ErrorList {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return nil
	}
	p := field.NewPath("metadata", "annotations").Key(appsv1.DeprecatedTemplateGeneration)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v, "must be an integer")}
	}
	return apimachineryvalidation.ValidateNonnegativeField(n, p)
}

func validateSpec(spec *appsv1.DaemonSetSpec, opts metav1validation.LabelSelectorValidationOptions, podOpts podvalidation.PodValidationOptions, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabelSelector(spec.Selector, opts, fldPath.Child("selector"))

	// A nil selector selects nothing, so it is reported as not matching.
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}

	allErrs = append(allErrs, podvalidation.ValidatePodTemplateSpecWithOptions(&spec.Template, fldPath.Child("template"), podOpts)...)
	allErrs = append(allErrs, appsrules.ValidateRestartAlways(&spec.Template, "DaemonSet", fldPath.Child("template", "spec"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		// zero is a valid revisionHistoryLimit
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	return allErrs
}

func validateUpdateStrategy(strategy *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch strategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if strategy.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdate(strategy.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath, strategy.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType})}
	}
}

func validateRollingUpdate(ru *appsv1.RollingUpdateDaemonSet, fldPath *field.Path) field.ErrorList {
	maxUnavailable := appsrules.IntOrStringValue(ru.MaxUnavailable)
	maxSurge := appsrules.IntOrStringValue(ru.MaxSurge)
	unavailablePath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")

	allErrs := appsrules.ValidatePositiveIntOrPercent(maxUnavailable, unavailablePath)
	allErrs = append(allErrs, appsrules.ValidatePositiveIntOrPercent(maxSurge, surgePath)...)
	allErrs = append(allErrs, appsrules.IsNotMoreThan100Percent(maxUnavailable, unavailablePath)...)
	allErrs = append(allErrs, appsrules.IsNotMoreThan100Percent(maxSurge, surgePath)...)

	// Exactly one of maxSurge and maxUnavailable must be non-zero.
	hasUnavailable := appsrules.IntOrPercentValue(maxUnavailable) != 0
	hasSurge := appsrules.IntOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		allErrs = append(allErrs, field.Invalid(surgePath, maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		allErrs = append(allErrs, field.Required(unavailablePath, "cannot be 0 when maxSurge is 0"))
	}
	return allErrs
}

// ValidateStatusUpdate checks a write to the status subresource.
func ValidateStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	fldPath := field.NewPath("status")
	s := &ds.Status
	var allErrs field.ErrorList
	for _, c := range []struct {
		name  string
		value int64
	}{
		{"currentNumberScheduled", int64(s.CurrentNumberScheduled)},
		{"numberMisscheduled", int64(s.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(s.DesiredNumberScheduled)},
		{"numberReady", int64(s.NumberReady)},
		{"observedGeneration", s.ObservedGeneration},
		{"updatedNumberScheduled", int64(s.UpdatedNumberScheduled)},
		{"numberAvailable", int64(s.NumberAvailable)},
		{"numberUnavailable", int64(s.NumberUnavailable)},
	} {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(c.value, fldPath.Child(c.name))...)
	}
	if s.CollisionCount != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	allErrs = append(allErrs, appsrules.ValidateCollisionCount(s.CollisionCount, old.Status.CollisionCount, fldPath.Child("collisionCount"))...)
	return allErrs
}
