package replicaset

import (
	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry/apps/appsrules"
	podvalidation "berth/apiserver/validation"
)

// Validate checks a new ReplicaSet beyond its metadata.
func Validate(rs *appsv1.ReplicaSet) field.ErrorList {
	return validateSpec(&rs.Spec, field.NewPath("spec"), appsrules.TemplateOptions(nil))
}

// ValidateUpdate checks an updated ReplicaSet: the new spec must be valid and
// the selector must not change.
func ValidateUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateSpec(&rs.Spec, field.NewPath("spec"), appsrules.TemplateOptions(&old.Spec.Template))
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(rs.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	return allErrs
}

func validateSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path, opts podvalidation.PodValidationOptions) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateNonnegativeField(int64(replicas(spec.Replicas)), fldPath.Child("replicas"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	// Kubernetes names deployments in this message for replica sets too.
	allErrs = append(allErrs, appsrules.ValidateSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)

	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, "invalid label selector"))
	} else {
		allErrs = append(allErrs, appsrules.ValidateReplicaTemplate(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"), opts)...)
	}
	return allErrs
}

// ValidateStatusUpdate checks a write to the status subresource.
func ValidateStatusUpdate(rs, _ *appsv1.ReplicaSet) field.ErrorList {
	fldPath := field.NewPath("status")
	s := &rs.Status
	var allErrs field.ErrorList
	for _, c := range []struct {
		name  string
		value int64
	}{
		{"replicas", int64(s.Replicas)},
		{"fullyLabeledReplicas", int64(s.FullyLabeledReplicas)},
		{"readyReplicas", int64(s.ReadyReplicas)},
		{"availableReplicas", int64(s.AvailableReplicas)},
		{"observedGeneration", s.ObservedGeneration},
	} {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(c.value, fldPath.Child(c.name))...)
	}
	if s.TerminatingReplicas != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.TerminatingReplicas), fldPath.Child("terminatingReplicas"))...)
	}
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, s.Replicas, "status.replicas",
		appsrules.ReplicaCount{Name: "fullyLabeledReplicas", Value: s.FullyLabeledReplicas},
		appsrules.ReplicaCount{Name: "readyReplicas", Value: s.ReadyReplicas},
		appsrules.ReplicaCount{Name: "availableReplicas", Value: s.AvailableReplicas})...)
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, s.ReadyReplicas, "readyReplicas",
		appsrules.ReplicaCount{Name: "availableReplicas", Value: s.AvailableReplicas})...)
	return allErrs
}
