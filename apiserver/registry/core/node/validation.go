package node

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"berth/apiserver/registry/core/internal/coreapi"
)

const podCIDRChangeMsg = `node updates may not change podCIDR except from "" to valid`

// validate checks a node as Kubernetes' ValidateNode does (metadata aside).
// Status fields are optional, but checked when set.
func validate(n *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := validateAnnotations(n.Annotations, metaPath.Child("annotations"))
	if len(n.Spec.Taints) > 0 {
		// Kubernetes reports spec.taints under "metadata.taints".
		errs = append(errs, validateTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	}
	errs = append(errs, validateResources(n)...)

	if len(n.Spec.PodCIDRs) > 0 {
		cidrsPath := field.NewPath("spec", "podCIDRs")
		for i, cidr := range n.Spec.PodCIDRs {
			errs = append(errs, coreapi.LegacyCIDR(cidrsPath.Index(i), cidr)...)
		}
		if len(n.Spec.PodCIDRs) > 1 {
			dual, err := netutils.IsDualStackCIDRStrings(n.Spec.PodCIDRs)
			if err != nil {
				errs = append(errs, field.InternalError(cidrsPath, fmt.Errorf("invalid PodCIDRs. failed to check with dual stack with error:%v", err)))
			}
			if !dual || len(n.Spec.PodCIDRs) > 2 {
				errs = append(errs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
			}
			seen := sets.New[string]()
			for i, cidr := range n.Spec.PodCIDRs {
				if seen.Has(cidr) {
					errs = append(errs, field.Duplicate(cidrsPath.Index(i), cidr))
				}
				seen.Insert(cidr)
			}
		}
	}
	return errs
}

// validateUpdate checks what may change on an update (ValidateNodeUpdate):
// podCIDRs and providerID only from unset, externalID never; status
// addresses must be unique.
func validateUpdate(n, old *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := validateAnnotations(n.Annotations, metaPath.Child("annotations"))
	errs = append(errs, validateResources(n)...)

	seen := map[corev1.NodeAddress]bool{}
	for i, addr := range n.Status.Addresses {
		if seen[addr] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), addr))
		}
		seen[addr] = true
	}

	if len(old.Spec.PodCIDRs) > 0 {
		cidrsPath := field.NewPath("spec", "podCIDRs")
		if len(old.Spec.PodCIDRs) != len(n.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(cidrsPath, podCIDRChangeMsg))
		} else {
			for i, cidr := range old.Spec.PodCIDRs {
				if cidr != n.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(cidrsPath, podCIDRChangeMsg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), `node updates may not change providerID except from "" to valid`))
	}
	if n.Spec.ConfigSource != nil {
		errs = append(errs, validateConfigSource(n.Spec.ConfigSource, field.NewPath("spec", "configSource"))...)
	}
	if len(n.Spec.Taints) > 0 {
		errs = append(errs, validateTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	}
	if n.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

// validateResources checks the quantities in status.capacity and
// status.allocatable.
func validateResources(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for k, v := range n.Status.Capacity {
		errs = append(errs, coreapi.ValidateResourceQuantityValue(k, v, field.NewPath("status", "capacity", string(k)))...)
	}
	for k, v := range n.Status.Allocatable {
		errs = append(errs, coreapi.ValidateResourceQuantityValue(k, v, field.NewPath("status", "allocatable", string(k)))...)
	}
	return errs
}

// validateTaints checks taints: label-like keys and values, a known effect,
// and at most one taint per key and effect.
func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	unique := map[corev1.TaintEffect]sets.Set[string]{}
	for i, taint := range taints {
		idxPath := fldPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(taint.Key, idxPath.Child("key"))...)
		if msgs := validation.IsValidLabelValue(taint.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(idxPath.Child("value"), taint.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(taint.Effect, idxPath.Child("effect"))...)
		if unique[taint.Effect].Has(taint.Key) {
			dup := field.Duplicate(idxPath, taint)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if unique[taint.Effect] == nil {
			unique[taint.Effect] = sets.New[string]()
		}
		unique[taint.Effect].Insert(taint.Key)
	}
	return errs
}

func validateTaintEffect(effect corev1.TaintEffect, fldPath *field.Path) field.ErrorList {
	switch effect {
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, effect, []string{
		string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute),
	})}
}

// validateAnnotations checks the scheduler annotations nodes may carry: the
// legacy taints and preferAvoidPods, both JSON.
func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v := annotations[corev1.TaintsAnnotationKey]; v != "" {
		var taints []corev1.Taint
		if err := json.Unmarshal([]byte(v), &taints); err != nil {
			errs = append(errs, field.Invalid(fldPath, corev1.TaintsAnnotationKey, err.Error()))
		} else if len(taints) > 0 {
			errs = append(errs, validateTaints(taints, fldPath.Child(corev1.TaintsAnnotationKey))...)
		}
	}
	if v := annotations[corev1.PreferAvoidPodsAnnotationKey]; v != "" {
		var avoid corev1.AvoidPods
		if err := json.Unmarshal([]byte(v), &avoid); err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("AvoidPods"), corev1.PreferAvoidPodsAnnotationKey, err.Error()))
		} else {
			for i, entry := range avoid.PreferAvoidPods {
				idxPath := fldPath.Child(corev1.PreferAvoidPodsAnnotationKey).Index(i)
				if c := entry.PodSignature.PodController; c == nil {
					errs = append(errs, field.Required(idxPath.Child("PodSignature"), ""))
				} else if c.Controller == nil || !*c.Controller {
					errs = append(errs, field.Invalid(idxPath.Child("PodSignature").Child("PodController").Child("Controller"),
						c.Controller, "must point to a controller"))
				}
			}
		}
	}
	return errs
}

// validateConfigSource checks the deprecated spec.configSource, still
// validated by Kubernetes for compatibility.
func validateConfigSource(src *corev1.NodeConfigSource, fldPath *field.Path) field.ErrorList {
	if src.ConfigMap == nil {
		return field.ErrorList{field.Invalid(fldPath, src, "exactly one reference subfield must be non-nil")}
	}
	var errs field.ErrorList
	cm := src.ConfigMap
	cmPath := fldPath.Child("configMap")
	if cm.UID != "" {
		errs = append(errs, field.Forbidden(cmPath.Child("uid"), "uid must not be set in spec"))
	}
	if cm.ResourceVersion != "" {
		errs = append(errs, field.Forbidden(cmPath.Child("resourceVersion"), "resourceVersion must not be set in spec"))
	}
	if cm.Namespace == "" {
		errs = append(errs, field.Required(cmPath.Child("namespace"), "namespace must be set"))
	} else {
		for _, msg := range validation.IsDNS1123Label(cm.Namespace) {
			errs = append(errs, field.Invalid(cmPath.Child("namespace"), cm.Namespace, msg))
		}
	}
	if cm.Name == "" {
		errs = append(errs, field.Required(cmPath.Child("name"), "name must be set"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(cm.Name) {
			errs = append(errs, field.Invalid(cmPath.Child("name"), cm.Name, msg))
		}
	}
	if cm.KubeletConfigKey == "" {
		errs = append(errs, field.Required(cmPath.Child("kubeletConfigKey"), "kubeletConfigKey must be set"))
	} else {
		for _, msg := range validation.IsConfigMapKey(cm.KubeletConfigKey) {
			errs = append(errs, field.Invalid(cmPath.Child("kubeletConfigKey"), cm.KubeletConfigKey, msg))
		}
	}
	return errs
}
