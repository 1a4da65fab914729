package validation

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Deprecated annotation keys and values still honoured by Kubernetes.
const (
	seccompContainerAnnotationKeyPrefix = "container.seccomp.security.alpha.kubernetes.io/"
	appArmorAnnotationKeyPrefix         = corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix
	appArmorRuntimeDefault              = corev1.DeprecatedAppArmorBetaProfileRuntimeDefault
	appArmorUnconfined                  = corev1.DeprecatedAppArmorBetaProfileNameUnconfined
	appArmorLocalhostPrefix             = corev1.DeprecatedAppArmorBetaProfileNamePrefix
)

// ValidatePodSpecificAnnotations checks the annotations with a meaning for
// pods: the mirror pod annotation, tolerations, pod deletion cost, and the
// deprecated seccomp and AppArmor annotations. fldPath is the path of the
// annotations map.
func ValidatePodSpecificAnnotations(annotations map[string]string, spec *corev1.PodSpec, fldPath *field.Path, opts PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList
	if value, ok := annotations[corev1.MirrorPodAnnotationKey]; ok && spec.NodeName == "" {
		allErrs = append(allErrs, field.Invalid(fldPath.Key(corev1.MirrorPodAnnotationKey), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if annotations[corev1.TolerationsAnnotationKey] != "" {
		var tolerations []corev1.Toleration
		if err := json.Unmarshal([]byte(annotations[corev1.TolerationsAnnotationKey]), &tolerations); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, corev1.TolerationsAnnotationKey, err.Error()))
		} else {
			allErrs = append(allErrs, ValidateTolerations(tolerations, fldPath.Child(corev1.TolerationsAnnotationKey))...)
		}
	}
	if !opts.AllowInvalidPodDeletionCost {
		if value, ok := annotations[corev1.PodDeletionCost]; ok && !validDeletionCost(value) {
			allErrs = append(allErrs, field.Invalid(fldPath.Key(corev1.PodDeletionCost), value, "must be a 32bit integer"))
		}
	}
	allErrs = append(allErrs, validateSeccompPodAnnotations(annotations, fldPath)...)
	return append(allErrs, validateAppArmorPodAnnotations(annotations, spec, fldPath)...)
}

// validDeletionCost reports whether a pod deletion cost is a 32-bit integer
// (a leading '+' is not accepted).
func validDeletionCost(value string) bool {
	if value == "" || !(value[0] == '-' || (value[0] >= '0' && value[0] <= '9')) {
		return false
	}
	_, err := strconv.ParseInt(value, 10, 32)
	return err == nil
}

// ValidatePodSpecificAnnotationUpdates forbids adding, changing or removing
// the AppArmor and mirror pod annotations, and checks the new annotations.
func ValidatePodSpecificAnnotationUpdates(newPod, oldPod *corev1.Pod, fldPath *field.Path, opts PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList
	for _, k := range sets.List(sets.KeySet(oldPod.Annotations)) {
		if newVal, ok := newPod.Annotations[k]; ok && newVal == oldPod.Annotations[k] {
			continue
		}
		if strings.HasPrefix(k, appArmorAnnotationKeyPrefix) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not remove or update AppArmor annotations"))
		}
		if k == corev1.MirrorPodAnnotationKey {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not remove or update mirror pod annotation"))
		}
	}
	for _, k := range sets.List(sets.KeySet(newPod.Annotations)) {
		if _, ok := oldPod.Annotations[k]; ok {
			continue
		}
		if strings.HasPrefix(k, appArmorAnnotationKeyPrefix) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not add AppArmor annotations"))
		}
		if k == corev1.MirrorPodAnnotationKey {
			allErrs = append(allErrs, field.Forbidden(fldPath.Key(k), "may not add mirror pod annotation"))
		}
	}
	return append(allErrs, ValidatePodSpecificAnnotations(newPod.Annotations, &newPod.Spec, fldPath, opts)...)
}

func validateSeccompProfileAnnotation(p string, fldPath *field.Path) field.ErrorList {
	switch {
	case p == corev1.SeccompProfileRuntimeDefault, p == corev1.DeprecatedSeccompProfileDockerDefault, p == corev1.SeccompProfileNameUnconfined:
		return nil
	case strings.HasPrefix(p, corev1.SeccompLocalhostProfileNamePrefix):
		return validateLocalDescendingPath(strings.TrimPrefix(p, corev1.SeccompLocalhostProfileNamePrefix), fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, p, "must be a valid seccomp profile")}
}

func validateSeccompPodAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if p, ok := annotations[corev1.SeccompPodAnnotationKey]; ok {
		allErrs = append(allErrs, validateSeccompProfileAnnotation(p, fldPath.Child(corev1.SeccompPodAnnotationKey))...)
	}
	for _, k := range sets.List(sets.KeySet(annotations)) {
		if strings.HasPrefix(k, seccompContainerAnnotationKeyPrefix) {
			allErrs = append(allErrs, validateSeccompProfileAnnotation(annotations[k], fldPath.Child(k))...)
		}
	}
	return allErrs
}

func validateAppArmorPodAnnotations(annotations map[string]string, spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, k := range sets.List(sets.KeySet(annotations)) {
		if !strings.HasPrefix(k, appArmorAnnotationKeyPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, appArmorAnnotationKeyPrefix)
		found := false
		visitContainers(spec, field.NewPath("spec"), func(c *corev1.Container, _ *field.Path) {
			found = found || c.Name == name
		})
		if !found {
			allErrs = append(allErrs, field.Invalid(fldPath.Key(k), name, "container not found"))
		}
		p := annotations[k]
		if p != "" && p != appArmorRuntimeDefault && p != appArmorUnconfined && !strings.HasPrefix(p, appArmorLocalhostPrefix) {
			allErrs = append(allErrs, field.Invalid(fldPath.Key(k), p, fmt.Sprintf("invalid AppArmor profile name: %q", p)))
		}
	}
	return allErrs
}

// ValidateSeccompAnnotationsAndFields checks that where both a deprecated
// seccomp annotation and a seccompProfile field are given, they agree.
func ValidateSeccompAnnotationsAndFields(meta metav1.ObjectMeta, spec *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil {
		if a, ok := meta.Annotations[corev1.SeccompPodAnnotationKey]; ok {
			if err := seccompMatch(a, spec.SecurityContext.SeccompProfile, specPath.Child("securityContext").Child("seccompProfile")); err != nil {
				allErrs = append(allErrs, err)
			}
		}
	}
	visitContainers(spec, specPath, func(c *corev1.Container, p *field.Path) {
		if c.SecurityContext == nil || c.SecurityContext.SeccompProfile == nil {
			return
		}
		if a, ok := meta.Annotations[seccompContainerAnnotationKeyPrefix+c.Name]; ok {
			if err := seccompMatch(a, c.SecurityContext.SeccompProfile, p.Child("securityContext").Child("seccompProfile")); err != nil {
				allErrs = append(allErrs, err)
			}
		}
	})
	return allErrs
}

func seccompMatch(annotation string, profile *corev1.SeccompProfile, fldPath *field.Path) *field.Error {
	switch profile.Type {
	case corev1.SeccompProfileTypeUnconfined:
		if annotation != corev1.SeccompProfileNameUnconfined {
			return field.Forbidden(fldPath.Child("type"), "seccomp type in annotation and field must match")
		}
	case corev1.SeccompProfileTypeRuntimeDefault:
		if annotation != corev1.SeccompProfileRuntimeDefault && annotation != corev1.DeprecatedSeccompProfileDockerDefault {
			return field.Forbidden(fldPath.Child("type"), "seccomp type in annotation and field must match")
		}
	case corev1.SeccompProfileTypeLocalhost:
		if !strings.HasPrefix(annotation, corev1.SeccompLocalhostProfileNamePrefix) {
			return field.Forbidden(fldPath.Child("type"), "seccomp type in annotation and field must match")
		}
		if profile.LocalhostProfile == nil || strings.TrimPrefix(annotation, corev1.SeccompLocalhostProfileNamePrefix) != *profile.LocalhostProfile {
			return field.Forbidden(fldPath.Child("localhostProfile"), "seccomp profile in annotation and field must match")
		}
	}
	return nil
}

// ValidateAppArmorAnnotationsAndFields checks that where both a deprecated
// AppArmor annotation and an appArmorProfile field apply to a container,
// they agree. Windows pods are not checked.
func ValidateAppArmorAnnotationsAndFields(meta metav1.ObjectMeta, spec *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	if spec.OS != nil && spec.OS.Name == corev1.Windows {
		return nil
	}
	var allErrs field.ErrorList
	var podProfile *corev1.AppArmorProfile
	if spec.SecurityContext != nil {
		podProfile = spec.SecurityContext.AppArmorProfile
	}
	visitContainers(spec, specPath, func(c *corev1.Container, p *field.Path) {
		profile := podProfile
		if c.SecurityContext != nil && c.SecurityContext.AppArmorProfile != nil {
			profile = c.SecurityContext.AppArmorProfile
		}
		if profile == nil {
			return
		}
		a, ok := meta.Annotations[appArmorAnnotationKeyPrefix+c.Name]
		if !ok {
			return
		}
		ap := p.Child("securityContext").Child("appArmorProfile")
		switch profile.Type {
		case corev1.AppArmorProfileTypeUnconfined:
			if a != appArmorUnconfined {
				allErrs = append(allErrs, field.Forbidden(ap.Child("type"), "apparmor type in annotation and field must match"))
			}
		case corev1.AppArmorProfileTypeRuntimeDefault:
			if a != appArmorRuntimeDefault {
				allErrs = append(allErrs, field.Forbidden(ap.Child("type"), "apparmor type in annotation and field must match"))
			}
		case corev1.AppArmorProfileTypeLocalhost:
			if !strings.HasPrefix(a, appArmorLocalhostPrefix) {
				allErrs = append(allErrs, field.Forbidden(ap.Child("type"), "apparmor type in annotation and field must match"))
			} else if profile.LocalhostProfile == nil || strings.TrimPrefix(a, appArmorLocalhostPrefix) != *profile.LocalhostProfile {
				allErrs = append(allErrs, field.Forbidden(ap.Child("localhostProfile"), "apparmor profile in annotation and field must match"))
			}
		}
	})
	return allErrs
}
