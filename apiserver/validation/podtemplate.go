package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodValidationOptions relax or tighten pod spec validation. The zero value
// is right for a new pod template; a pod sets ResourceIsPod. The Allow*
// options keep objects stored under older, laxer rules updatable (see
// OptionsForUpdate).
type PodValidationOptions struct {
	// ResourceIsPod is set when the spec is that of a Pod, not a template:
	// hostPort must then equal containerPort under hostNetwork, and image
	// volumes need a reference.
	ResourceIsPod bool
	// AllowInvalidPodDeletionCost accepts a malformed
	// controller.kubernetes.io/pod-deletion-cost annotation.
	AllowInvalidPodDeletionCost bool
	// AllowInvalidLabelValueInSelector accepts invalid label values in pod
	// (anti-)affinity selectors.
	AllowInvalidLabelValueInSelector bool
	// AllowInvalidLabelValueInRequiredNodeAffinity accepts invalid label
	// values in required node affinity.
	AllowInvalidLabelValueInRequiredNodeAffinity bool
	// AllowInvalidTopologySpreadConstraintLabelSelector skips the check of
	// topology spread label selectors.
	AllowInvalidTopologySpreadConstraintLabelSelector bool
	// AllowIndivisibleHugePagesValues accepts hugepages quantities that are
	// not a multiple of the page size.
	AllowIndivisibleHugePagesValues bool
	// AllowNamespacedSysctlsForHostNetAndHostIPC accepts net.* sysctls with
	// hostNetwork and IPC sysctls with hostIPC.
	AllowNamespacedSysctlsForHostNetAndHostIPC bool
	// AllowNonLocalProjectedTokenPath accepts absolute or ".." paths for
	// projected service account tokens.
	AllowNonLocalProjectedTokenPath bool
}

// ValidatePodTemplateSpec validates a pod template (its labels, annotations
// and pod spec) as Kubernetes does, with field paths below fldPath.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	return ValidatePodTemplateSpecWithOptions(t, fldPath, PodValidationOptions{})
}

// ValidatePodTemplateSpecWithOptions is ValidatePodTemplateSpec with options,
// for example those of OptionsForUpdate when a stored template is updated.
func ValidatePodTemplateSpecWithOptions(t *corev1.PodTemplateSpec, fldPath *field.Path, opts PodValidationOptions) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	allErrs = append(allErrs, ValidatePodSpecificAnnotations(t.Annotations, &t.Spec, fldPath.Child("annotations"), opts)...)
	specPath := fldPath.Child("spec")
	allErrs = append(allErrs, ValidatePodSpecWithOptions(&t.Spec, nil, specPath, opts)...)
	allErrs = append(allErrs, ValidateSeccompAnnotationsAndFields(t.ObjectMeta, &t.Spec, specPath)...)
	allErrs = append(allErrs, ValidateAppArmorAnnotationsAndFields(t.ObjectMeta, &t.Spec, specPath)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return allErrs
}
