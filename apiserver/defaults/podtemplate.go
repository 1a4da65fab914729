package defaults

import corev1 "k8s.io/api/core/v1"

// PodTemplateSpec sets Kubernetes' defaults on a pod template.
//
// Placeholder signature: the implementation is being written.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {}

// PodSpec sets Kubernetes' defaults on a pod spec.
//
// Placeholder signature: the implementation is being written.
func PodSpec(s *corev1.PodSpec) {}
