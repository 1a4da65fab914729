package appsrules

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	podvalidation "berth/apiserver/validation"
)

// ValidateSelector checks a workload's spec.selector as Kubernetes does for
// deployments, replicasets and statefulsets: it is required, must be a valid
// label selector (label values checked strictly), and must select something.
// kind names the resource in the "empty selector" message ("deployment").
func ValidateSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	allErrs := metav1validation.ValidateLabelSelector(sel, opts, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, sel, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	return allErrs
}

// TemplateLabelsMatch reports an error at fldPath (the template's
// metadata.labels) when a non-empty selector does not select the template's
// labels.
func TemplateLabelsMatch(selector labels.Selector, template *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if selector.Empty() || selector.Matches(labels.Set(template.Labels)) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, template.Labels, "`selector` does not match template `labels`")}
}

// ValidateReplicaTemplate checks the pod template of a Deployment or a
// ReplicaSet (Kubernetes' ValidatePodTemplateSpecForReplicaSet): its labels
// match the selector, the pod template itself is valid, its pods restart
// Always and have no activeDeadlineSeconds. kind names the resource in the
// activeDeadlineSeconds message ("ReplicaSet"); opts relax pod validation
// for updates (see TemplateOptions).
func ValidateReplicaTemplate(template *corev1.PodTemplateSpec, selector labels.Selector, kind string, fldPath *field.Path, opts podvalidation.PodValidationOptions) field.ErrorList {
	allErrs := TemplateLabelsMatch(selector, template, fldPath.Child("metadata", "labels"))
	allErrs = append(allErrs, podvalidation.ValidatePodTemplateSpecWithOptions(template, fldPath, opts)...)
	allErrs = append(allErrs, ValidateRestartAlways(template, kind, fldPath.Child("spec"))...)
	return allErrs
}

// TemplateOptions returns the pod validation options for a template: the
// strict ones for a new object (old == nil), and for an update those that
// keep accepting what the stored template already holds, as Kubernetes does.
func TemplateOptions(old *corev1.PodTemplateSpec) podvalidation.PodValidationOptions {
	if old == nil {
		return podvalidation.PodValidationOptions{}
	}
	return podvalidation.OptionsForUpdate(&old.Spec, &old.ObjectMeta)
}

// ValidateRestartAlways checks that a long-running workload's pods restart
// Always and have no activeDeadlineSeconds; specPath is the template's spec.
func ValidateRestartAlways(template *corev1.PodTemplateSpec, kind string, specPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("restartPolicy"), template.Spec.RestartPolicy,
			[]corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if template.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("activeDeadlineSeconds"),
			fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

// SelectorString renders a selector as the scale subresource and the
// deployment table do (labels.Selector.String), or "" when it is invalid.
func SelectorString(sel *metav1.LabelSelector) (string, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "", err
	}
	return s.String(), nil
}
