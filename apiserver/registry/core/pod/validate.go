package pod

import (
	"fmt"
	"math"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/validation"
)

var (
	metaPath        = field.NewPath("metadata")
	annotationsPath = metaPath.Child("annotations")
	specPath        = field.NewPath("spec")
)

// validateCreate checks a new pod: its pod-specific annotations, its spec
// and the rules that hold only at creation.
func validateCreate(pod *corev1.Pod) field.ErrorList {
	opts := validation.PodValidationOptions{ResourceIsPod: true}
	allErrs := validation.ValidatePodSpecificAnnotations(pod.Annotations, &pod.Spec, annotationsPath, opts)
	allErrs = append(allErrs, validateSpec(pod, opts)...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	allErrs = append(allErrs, validation.ValidateSeccompAnnotationsAndFields(pod.ObjectMeta, &pod.Spec, specPath)...)
	return append(allErrs, validation.ValidateAppArmorAnnotationsAndFields(pod.ObjectMeta, &pod.Spec, specPath)...)
}

// validateSpec checks the spec of a pod with the rules that apply to pods
// but not to templates.
func validateSpec(pod *corev1.Pod, opts validation.PodValidationOptions) field.ErrorList {
	allErrs := validation.ValidatePodSpecWithOptions(&pod.Spec, &pod.ObjectMeta, specPath, opts)
	if pod.Spec.ServiceAccountName == "" {
		for vi, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for si, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					p := specPath.Child("volumes").Index(vi).Child("projected").Child("sources").Index(si).Child("serviceAccountToken")
					allErrs = append(allErrs, field.Forbidden(p, "must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	allErrs = append(allErrs, imageWhitespace(pod.Spec.Containers, specPath.Child("containers"))...)
	return append(allErrs, imageWhitespace(pod.Spec.InitContainers, specPath.Child("initContainers"))...)
}

func imageWhitespace(containers []corev1.Container, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, c := range containers {
		if len(c.Image) != len(strings.TrimSpace(c.Image)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return allErrs
}

// updatableSpecFields is the list Kubernetes prints when a pod update
// changes anything else.
var updatableSpecFields = strings.Join([]string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}, ",")

// validateUpdate checks an update of a pod: the new pod must be valid, and
// its spec may differ from the old one only in container and init container
// images, a lower or new activeDeadlineSeconds, added tolerations (or changed
// tolerationSeconds), removed scheduling gates, additions to the node
// selector and node affinity of a gated pod, and a negative
// terminationGracePeriodSeconds set to 1.
func validateUpdate(pod, old *corev1.Pod) field.ErrorList {
	opts := validation.OptionsForUpdate(&old.Spec, &old.ObjectMeta)
	opts.ResourceIsPod = true
	allErrs := validation.ValidatePodSpecificAnnotationUpdates(pod, old, annotationsPath, opts)
	allErrs = append(allErrs, validateSpec(pod, opts)...)

	errs, stop := validateContainerUpdates(pod.Spec.Containers, old.Spec.Containers, specPath.Child("containers"))
	allErrs = append(allErrs, errs...)
	if stop {
		return allErrs
	}
	errs, stop = validateContainerUpdates(pod.Spec.InitContainers, old.Spec.InitContainers, specPath.Child("initContainers"))
	allErrs = append(allErrs, errs...)
	if stop {
		return allErrs
	}

	adsPath := specPath.Child("activeDeadlineSeconds")
	if ads := pod.Spec.ActiveDeadlineSeconds; ads != nil {
		if *ads < 0 || *ads > math.MaxInt32 {
			return append(allErrs, field.Invalid(adsPath, *ads, utilvalidation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old.Spec.ActiveDeadlineSeconds != nil && *old.Spec.ActiveDeadlineSeconds < *ads {
			return append(allErrs, field.Invalid(adsPath, *ads, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(adsPath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	allErrs = append(allErrs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return allErrs
	}
	munged := mungeUpdatableFields(pod, old)
	allErrs = append(allErrs, validateGatedSchedulingChanges(munged, old)...)
	if !equality.Semantic.DeepEqual(*munged, old.Spec) {
		allErrs = append(allErrs, field.Forbidden(specPath,
			fmt.Sprintf("pod updates may not change fields other than %s\n%v", updatableSpecFields, specDiff(&old.Spec, munged))))
	}
	return allErrs
}

// validateContainerUpdates forbids adding or removing containers and checks
// the images of the new ones.
func validateContainerUpdates(containers, old []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(containers) != len(old) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	var allErrs field.ErrorList
	for i, c := range containers {
		if c.Image == "" {
			allErrs = append(allErrs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
	}
	return allErrs, false
}

// mungeUpdatableFields returns the new spec with every field that may change
// set back to its old value.
func mungeUpdatableFields(pod, old *corev1.Pod) *corev1.PodSpec {
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = nil
	if old.Spec.ActiveDeadlineSeconds != nil {
		v := *old.Spec.ActiveDeadlineSeconds
		munged.ActiveDeadlineSeconds = &v
	}
	munged.SchedulingGates = old.Spec.SchedulingGates
	munged.Tolerations = old.Spec.Tolerations
	if g := old.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = g
	}
	return munged
}

// validateGatedSchedulingChanges allows a pod that still has scheduling
// gates to gain node selector entries and node affinity requirements, and
// sets those fields of munged back to the old values.
func validateGatedSchedulingChanges(munged *corev1.PodSpec, old *corev1.Pod) field.ErrorList {
	if len(old.Spec.SchedulingGates) == 0 {
		return nil
	}
	var allErrs field.ErrorList
	if !equality.Semantic.DeepEqual(munged.NodeSelector, old.Spec.NodeSelector) {
		for k, v := range old.Spec.NodeSelector {
			if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
				allErrs = append(allErrs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector,
					"only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
				break
			}
		}
		munged.NodeSelector = old.Spec.NodeSelector
	}
	var oldNA, newNA *corev1.NodeAffinity
	if old.Spec.Affinity != nil {
		oldNA = old.Spec.Affinity.NodeAffinity
	}
	if munged.Affinity != nil {
		newNA = munged.Affinity.NodeAffinity
	}
	if equality.Semantic.DeepEqual(oldNA, newNA) {
		return allErrs
	}
	allErrs = append(allErrs, validateNodeAffinityMutation(specPath.Child("affinity").Child("nodeAffinity"), newNA, oldNA)...)
	switch {
	case munged.Affinity == nil && oldNA == nil:
	case munged.Affinity == nil && oldNA != nil:
		munged.Affinity = &corev1.Affinity{NodeAffinity: oldNA}
	case old.Spec.Affinity == nil && munged.Affinity.PodAntiAffinity == nil && munged.Affinity.PodAffinity == nil:
		munged.Affinity = nil
	default:
		munged.Affinity.NodeAffinity = oldNA
	}
	return allErrs
}

func validateNodeAffinityMutation(p *field.Path, newNA, oldNA *corev1.NodeAffinity) field.ErrorList {
	if oldNA == nil || oldNA.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	oldTerms := oldNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var newTerms []corev1.NodeSelectorTerm
	if newNA != nil && newNA.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		newTerms = newNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	termsPath := p.Child("requiredDuringSchedulingIgnoredDuringExecution").Child("nodeSelectorTerms")
	if len(oldTerms) > 0 && len(oldTerms) != len(newTerms) {
		return field.ErrorList{field.Invalid(termsPath, newTerms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed")}
	}
	var allErrs field.ErrorList
	for i := range oldTerms {
		if !onlyAdditions(newTerms[i], oldTerms[i]) {
			allErrs = append(allErrs, field.Invalid(termsPath.Index(i), newTerms[i], "only additions are allowed (no mutations or deletions)"))
		}
	}
	return allErrs
}

func onlyAdditions(newTerm, oldTerm corev1.NodeSelectorTerm) bool {
	if len(oldTerm.MatchExpressions) == 0 && len(oldTerm.MatchFields) == 0 &&
		(len(newTerm.MatchExpressions) > 0 || len(newTerm.MatchFields) > 0) {
		return false
	}
	if l := len(oldTerm.MatchExpressions); l > 0 &&
		(len(newTerm.MatchExpressions) < l || !equality.Semantic.DeepEqual(newTerm.MatchExpressions[:l], oldTerm.MatchExpressions)) {
		return false
	}
	if l := len(oldTerm.MatchFields); l > 0 &&
		(len(newTerm.MatchFields) < l || !equality.Semantic.DeepEqual(newTerm.MatchFields[:l], oldTerm.MatchFields)) {
		return false
	}
	return true
}

// validateOnlyAddedTolerations allows new tolerations and changes of
// tolerationSeconds only.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			clone := o
			clone.TolerationSeconds = t.TolerationSeconds
			if equality.Semantic.DeepEqual(clone, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validation.ValidateTolerations(tolerations, fldPath)
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	oldNames := map[string]bool{}
	for _, g := range old {
		oldNames[g.Name] = true
	}
	var allErrs field.ErrorList
	for i, g := range gates {
		if !oldNames[g.Name] {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"),
				fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}

// specDiff describes how two pod specs differ, for the error message of a
// forbidden update. It is a hint only; if the diff cannot be computed it is
// left out.
func specDiff(old, munged *corev1.PodSpec) (diff string) {
	defer func() {
		if recover() != nil {
			diff = ""
		}
	}()
	return cmp.Diff(*old, *munged)
}

// nameIsDNSSubdomain is the name rule of nodes (for nominatedNodeName).
var nameIsDNSSubdomain = apimachineryvalidation.NameIsDNSSubdomain
