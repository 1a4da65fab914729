package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePodTemplateSpec validates a pod template (its labels, annotations
// and pod spec) as Kubernetes does, with field paths below fldPath.
//
// Placeholder signature: the implementation is being written.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	return nil
}
