package deployment

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry/apps/appsrules"
	podvalidation "berth/apiserver/validation"
)

// Validate checks a new Deployment beyond its metadata.
func Validate(d *appsv1.Deployment) field.ErrorList {
	return validateSpec(&d.Spec, field.NewPath("spec"), appsrules.TemplateOptions(nil))
}

// ValidateUpdate checks an updated Deployment: the new spec must be valid
// and the selector must not change.
func ValidateUpdate(d, old *appsv1.Deployment) field.ErrorList {
	allErrs := validateSpec(&d.Spec, field.NewPath("spec"), appsrules.TemplateOptions(&old.Spec.Template))
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(d.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	return allErrs
}

func validateSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path, opts podvalidation.PodValidationOptions) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateNonnegativeField(int64(replicas(spec.Replicas)), fldPath.Child("replicas"))
	allErrs = append(allErrs, appsrules.ValidateSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)

	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, "invalid label selector"))
	} else {
		allErrs = append(allErrs, appsrules.ValidateReplicaTemplate(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"), opts)...)
	}

	allErrs = append(allErrs, validateStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		// zero is a valid revisionHistoryLimit
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		p := fldPath.Child("progressDeadlineSeconds")
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*spec.ProgressDeadlineSeconds), p)...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(p, *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateStrategy(strategy *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if strategy.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"),
				fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType))}
		}
		return nil
	case appsv1.RollingUpdateDeploymentStrategyType:
		if strategy.RollingUpdate == nil {
			// Defaulting sets it; reached only when defaults did not run.
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdate(strategy.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath, strategy.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
}

func validateRollingUpdate(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	maxUnavailable := appsrules.IntOrStringValue(ru.MaxUnavailable)
	maxSurge := appsrules.IntOrStringValue(ru.MaxSurge)
	allErrs := appsrules.ValidatePositiveIntOrPercent(maxUnavailable, fldPath.Child("maxUnavailable"))
	allErrs = append(allErrs, appsrules.ValidatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	if appsrules.IntOrPercentValue(maxUnavailable) == 0 && appsrules.IntOrPercentValue(maxSurge) == 0 {
		// Both cannot be zero: the rollout could never make progress.
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	allErrs = append(allErrs, appsrules.IsNotMoreThan100Percent(maxUnavailable, fldPath.Child("maxUnavailable"))...)
	return allErrs
}

// ValidateStatusUpdate checks a write to the status subresource.
func ValidateStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	fldPath := field.NewPath("status")
	s := &d.Status
	var allErrs field.ErrorList
	for _, c := range []struct {
		name  string
		value int64
	}{
		{"observedGeneration", s.ObservedGeneration},
		{"replicas", int64(s.Replicas)},
		{"updatedReplicas", int64(s.UpdatedReplicas)},
		{"readyReplicas", int64(s.ReadyReplicas)},
		{"availableReplicas", int64(s.AvailableReplicas)},
		{"unavailableReplicas", int64(s.UnavailableReplicas)},
	} {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(c.value, fldPath.Child(c.name))...)
	}
	if s.TerminatingReplicas != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.TerminatingReplicas), fldPath.Child("terminatingReplicas"))...)
	}
	if s.CollisionCount != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, s.Replicas, "status.replicas",
		appsrules.ReplicaCount{Name: "updatedReplicas", Value: s.UpdatedReplicas},
		appsrules.ReplicaCount{Name: "readyReplicas", Value: s.ReadyReplicas},
		appsrules.ReplicaCount{Name: "availableReplicas", Value: s.AvailableReplicas})...)
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, s.ReadyReplicas, "readyReplicas",
		appsrules.ReplicaCount{Name: "availableReplicas", Value: s.AvailableReplicas})...)
	allErrs = append(allErrs, appsrules.ValidateCollisionCount(s.CollisionCount, old.Status.CollisionCount, fldPath.Child("collisionCount"))...)
	return allErrs
}
