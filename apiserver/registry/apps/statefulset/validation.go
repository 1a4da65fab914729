package statefulset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry/apps/appsrules"
	podvalidation "berth/apiserver/validation"
)

// Validate checks a new StatefulSet beyond its metadata.
func Validate(s *appsv1.StatefulSet) field.ErrorList {
	return validateSpec(&s.Spec, field.NewPath("spec"), appsrules.TemplateOptions(nil))
}

// ValidateUpdate checks an updated StatefulSet: the new spec must be valid
// and only some of its fields may change.
func ValidateUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateSpec(&s.Spec, field.NewPath("spec"), appsrules.TemplateOptions(&old.Spec.Template))

	// Compare the specs with the mutable fields taken from old.
	spec := s.Spec.DeepCopy()
	spec.Replicas = old.Spec.Replicas
	spec.Template = old.Spec.Template
	spec.UpdateStrategy = old.Spec.UpdateStrategy
	spec.MinReadySeconds = old.Spec.MinReadySeconds
	spec.Ordinals = old.Spec.Ordinals
	spec.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !equality.Semantic.DeepEqual(*spec, old.Spec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return allErrs
}

func validateSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path, opts podvalidation.PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList

	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	strategyPath := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		allErrs = append(allErrs, field.Required(strategyPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(strategyPath.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			allErrs = append(allErrs, validateRollingUpdate(spec.UpdateStrategy.RollingUpdate, strategyPath.Child("rollingUpdate"))...)
		}
	default:
		allErrs = append(allErrs, field.Invalid(strategyPath, spec.UpdateStrategy.Type,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}

	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		policyPath := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		allErrs = append(allErrs, validateRetentionPolicyType(p.WhenDeleted, policyPath.Child("whenDeleted"))...)
		allErrs = append(allErrs, validateRetentionPolicyType(p.WhenScaled, policyPath.Child("whenScaled"))...)
	}

	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(replicas(spec.Replicas)), fldPath.Child("replicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), fldPath.Child("ordinals.start"))...)
	}

	allErrs = append(allErrs, appsrules.ValidateSelector(spec.Selector, "statefulset", fldPath.Child("selector"))...)
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, ""))
	} else {
		// Like Kubernetes, only the template's labels and annotations are
		// checked here: its volumes may refer to volumeClaimTemplates,
		// which full pod validation would reject.
		templatePath := fldPath.Child("template")
		allErrs = append(allErrs, appsrules.TemplateLabelsMatch(selector, &spec.Template, templatePath.Child("metadata", "labels"))...)
		allErrs = append(allErrs, metav1validation.ValidateLabels(spec.Template.Labels, templatePath.Child("labels"))...)
		allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(spec.Template.Annotations, templatePath.Child("annotations"))...)
		allErrs = append(allErrs, podvalidation.ValidatePodSpecificAnnotations(spec.Template.Annotations, &spec.Template.Spec, templatePath.Child("annotations"), opts)...)
	}
	allErrs = append(allErrs, appsrules.ValidateRestartAlways(&spec.Template, "StatefulSet", fldPath.Child("template", "spec"))...)
	return allErrs
}

func validateRollingUpdate(ru *appsv1.RollingUpdateStatefulSetStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ru.Partition != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*ru.Partition), fldPath.Child("partition"))...)
	}
	if ru.MaxUnavailable != nil {
		p := fldPath.Child("maxUnavailable")
		allErrs = append(allErrs, appsrules.ValidatePositiveIntOrPercent(*ru.MaxUnavailable, p)...)
		if appsrules.IntOrPercentValue(*ru.MaxUnavailable) == 0 {
			allErrs = append(allErrs, field.Invalid(p, *ru.MaxUnavailable, "cannot be 0"))
		}
		allErrs = append(allErrs, appsrules.IsNotMoreThan100Percent(*ru.MaxUnavailable, p)...)
	}
	return allErrs
}

func validateRetentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, fldPath *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, t, []appsv1.PersistentVolumeClaimRetentionPolicyType{
		appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType})}
}

// ValidateStatusUpdate checks a write to the status subresource.
func ValidateStatusUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	fldPath := field.NewPath("status")
	st := &s.Status
	var allErrs field.ErrorList
	for _, c := range []struct {
		name  string
		value int32
	}{
		{"replicas", st.Replicas},
		{"readyReplicas", st.ReadyReplicas},
		{"currentReplicas", st.CurrentReplicas},
		{"updatedReplicas", st.UpdatedReplicas},
		{"availableReplicas", st.AvailableReplicas},
	} {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(c.value), fldPath.Child(c.name))...)
	}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	if st.CollisionCount != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*st.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, st.Replicas, "status.replicas",
		appsrules.ReplicaCount{Name: "readyReplicas", Value: st.ReadyReplicas},
		appsrules.ReplicaCount{Name: "currentReplicas", Value: st.CurrentReplicas},
		appsrules.ReplicaCount{Name: "updatedReplicas", Value: st.UpdatedReplicas},
		appsrules.ReplicaCount{Name: "availableReplicas", Value: st.AvailableReplicas})...)
	allErrs = append(allErrs, appsrules.NotAbove(fldPath, st.ReadyReplicas, "status.readyReplicas",
		appsrules.ReplicaCount{Name: "availableReplicas", Value: st.AvailableReplicas})...)
	allErrs = append(allErrs, appsrules.ValidateCollisionCount(st.CollisionCount, old.Status.CollisionCount, fldPath.Child("collisionCount"))...)
	return allErrs
}
