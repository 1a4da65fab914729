package validation

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// OptionsForUpdate returns the options for validating an update of an object
// whose stored pod spec (and pod or template metadata) is old: every rule
// that Kubernetes tightened over time is relaxed when the old object already
// breaks it, so that stored objects stay updatable. ResourceIsPod is left
// false for the caller to set.
func OptionsForUpdate(oldSpec *corev1.PodSpec, oldMeta *metav1.ObjectMeta) PodValidationOptions {
	var opts PodValidationOptions
	if oldMeta != nil {
		if v, ok := oldMeta.Annotations[corev1.PodDeletionCost]; ok && !validDeletionCost(v) {
			opts.AllowInvalidPodDeletionCost = true
		}
	}
	if oldSpec == nil {
		return opts
	}
	if a := oldSpec.Affinity; a != nil {
		opts.AllowInvalidLabelValueInSelector = affinityHasInvalidLabelValue(a)
		if a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
				for _, req := range term.MatchExpressions {
					for _, v := range req.Values {
						if len(validation.IsValidLabelValue(v)) != 0 {
							opts.AllowInvalidLabelValueInRequiredNodeAffinity = true
						}
					}
				}
			}
		}
	}
	for _, c := range oldSpec.TopologySpreadConstraints {
		if len(metav1validation.ValidateLabelSelector(c.LabelSelector, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("labelSelector"))) != 0 {
			opts.AllowInvalidTopologySpreadConstraintLabelSelector = true
		}
	}
	visitContainers(oldSpec, field.NewPath("spec"), func(c *corev1.Container, _ *field.Path) {
		for _, list := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
			for name, q := range list {
				if isHugePageResourceName(name) && !hugePageValueDivisible(name, q) {
					opts.AllowIndivisibleHugePagesValues = true
				}
			}
		}
	})
	if oldSpec.SecurityContext != nil {
		for _, s := range oldSpec.SecurityContext.Sysctls {
			if validateHostSysctl(s.Name, oldSpec, field.NewPath("name")) != nil {
				opts.AllowNamespacedSysctlsForHostNetAndHostIPC = true
			}
		}
	}
	for _, v := range oldSpec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && len(validateLocalNonReservedPath(s.ServiceAccountToken.Path, field.NewPath("path"))) != 0 {
				opts.AllowNonLocalProjectedTokenPath = true
			}
		}
	}
	return opts
}

func affinityHasInvalidLabelValue(a *corev1.Affinity) bool {
	var terms []corev1.PodAffinityTerm
	if pa := a.PodAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if metav1validation.LabelSelectorHasInvalidLabelValue(t.LabelSelector) || metav1validation.LabelSelectorHasInvalidLabelValue(t.NamespaceSelector) {
			return true
		}
	}
	return false
}
