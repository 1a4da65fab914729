package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules"
	podvalidation "berth/apiserver/validation"
)

// The pod labels Kubernetes set before the batch.kubernetes.io/ ones; jobs
// still carry and select both.
const (
	LegacyJobNameLabel       = "job-name"
	LegacyControllerUIDLabel = "controller-uid"
)

const (
	// maxParallelismForIndexedJob caps the length of status.completedIndexes.
	maxParallelismForIndexedJob = 100000
	// maxFailedIndexesForIndexedJob caps the length of status.failedIndexes.
	maxFailedIndexesForIndexedJob           = 100_000
	completionsSoftLimit                    = 100_000
	parallelismLimitForHighCompletions      = 10_000
	maxFailedIndexesLimitForHighCompletions = 10_000
	maxManagedByLength                      = 63
)

// options are the update-dependent relaxations of Kubernetes'
// JobValidationOptions (elastic indexed jobs are always allowed: GA).
type options struct {
	// requirePrefixedLabels requires the batch.kubernetes.io/ pod labels
	// (jobs created before they existed do not have them).
	requirePrefixedLabels bool
	// allowMutableSchedulingDirectives lets a suspended job that never
	// started change node affinity, node selector, tolerations, scheduling
	// gates, labels and annotations of its template.
	allowMutableSchedulingDirectives bool
	// allowInvalidLabelValueInSelector keeps accepting a stored selector.
	allowInvalidLabelValueInSelector bool
	// pod relaxes pod template validation for stored templates.
	pod podvalidation.PodValidationOptions
}

// Validate checks a new Job beyond its metadata.
func Validate(j *batchv1.Job) field.ErrorList {
	return validateJob(j, options{requirePrefixedLabels: true})
}

// ValidateUpdate checks an updated Job: the new job must be valid and, apart
// from parallelism, suspend, activeDeadlineSeconds, backoffLimit,
// ttlSecondsAfterFinished and the completions of elastic indexed jobs, its
// spec may not change.
func ValidateUpdate(j, old *batchv1.Job) field.ErrorList {
	_, hadJobName := old.Spec.Template.Labels[batchv1.JobNameLabel]
	_, hadControllerUID := old.Spec.Template.Labels[batchv1.ControllerUidLabel]
	opts := options{
		requirePrefixedLabels:            hadJobName && hadControllerUID,
		allowMutableSchedulingDirectives: ptr.Deref(old.Spec.Suspend, false) && old.Status.StartTime == nil,
		allowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector),
		pod:                              appsrules.TemplateOptions(&old.Spec.Template),
	}
	allErrs := validateJob(j, opts)

	spec, oldSpec, fldPath := &j.Spec, &old.Spec, field.NewPath("spec")
	allErrs = append(allErrs, validateCompletionsUpdate(spec, oldSpec, fldPath.Child("completions"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(spec.Selector, oldSpec.Selector, fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateTemplateUpdate(spec, oldSpec, fldPath.Child("template"), opts)...)
	for _, f := range []struct {
		name     string
		new, old interface{}
	}{
		{"completionMode", spec.CompletionMode, oldSpec.CompletionMode},
		{"podFailurePolicy", spec.PodFailurePolicy, oldSpec.PodFailurePolicy},
		{"backoffLimitPerIndex", spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex},
		{"managedBy", spec.ManagedBy, oldSpec.ManagedBy},
		{"successPolicy", spec.SuccessPolicy, oldSpec.SuccessPolicy},
	} {
		allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(f.new, f.old, fldPath.Child(f.name))...)
	}
	return allErrs
}

func validateJob(j *batchv1.Job, opts options) field.ErrorList {
	allErrs := validateGeneratedSelector(j, opts.requirePrefixedLabels)

	fldPath := field.NewPath("spec")
	spec := &j.Spec
	allErrs = append(allErrs, ValidateSpec(spec, fldPath, opts.pod)...)
	if spec.Selector == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	} else {
		selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValueInSelector}
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, selOpts, fldPath.Child("selector"))...)
	}
	// Whether generated or manual, the selector must match the job's pods.
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil {
		if !selector.Matches(labels.Set(spec.Template.Labels)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
		}
	}

	// Indexed pods are named <job>-<index>-<suffix> and the hostname is
	// <job>-<index>: the largest must be a DNS label.
	if ptr.Deref(spec.CompletionMode, "") == batchv1.IndexedCompletion && ptr.Deref(spec.Completions, 0) > 0 {
		hostname := fmt.Sprintf("%s-%d", j.Name, *spec.Completions-1)
		if len(utilvalidation.IsDNS1123Label(hostname)) > 0 {
			allErrs = append(allErrs, field.Invalid(field.NewPath("metadata", "name"), j.Name,
				fmt.Sprintf("will not able to create pod with invalid DNS label: %s", hostname)))
		}
	}
	return allErrs
}

// validateGeneratedSelector checks, unless the selector is manual, that the
// pod template carries the generated labels and the selector selects them.
func validateGeneratedSelector(j *batchv1.Job, requirePrefixedLabels bool) field.ErrorList {
	if ptr.Deref(j.Spec.ManualSelector, false) || j.Spec.Selector == nil {
		return nil
	}
	var allErrs field.ErrorList
	// An unset uid would give the selector "controller-uid=".
	if j.UID == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	metaPath := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		LegacyControllerUIDLabel: string(j.UID),
		LegacyJobNameLabel:       j.Name,
	}
	allErrs = append(allErrs, validateHasLabel(j.Spec.Template.Labels, metaPath, LegacyControllerUIDLabel, string(j.UID))...)
	allErrs = append(allErrs, validateHasLabel(j.Spec.Template.Labels, metaPath, LegacyJobNameLabel, j.Name)...)
	if requirePrefixedLabels {
		allErrs = append(allErrs, validateHasLabel(j.Spec.Template.Labels, metaPath, batchv1.ControllerUidLabel, string(j.UID))...)
		allErrs = append(allErrs, validateHasLabel(j.Spec.Template.Labels, metaPath, batchv1.JobNameLabel, j.Name)...)
		expected[batchv1.ControllerUidLabel] = string(j.UID)
		expected[batchv1.JobNameLabel] = j.Name
	}
	if selector, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !selector.Matches(labels.Set(expected)) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return allErrs
}

func validateHasLabel(l map[string]string, metaPath *field.Path, key, expected string) field.ErrorList {
	p := metaPath.Child("labels").Key(key)
	actual, ok := l[key]
	if !ok {
		return field.ErrorList{field.Required(p, key)}
	}
	if actual != expected {
		return field.ErrorList{field.Invalid(p, l, fmt.Sprintf("must be '%s'", expected))}
	}
	return nil
}

// ValidateSpec checks the parts of a job spec shared by Jobs and the job
// templates of CronJobs: everything but the selector. podOpts are the pod
// template validation options (appsrules.TemplateOptions).
func ValidateSpec(spec *batchv1.JobSpec, fldPath *field.Path, podOpts podvalidation.PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList
	for _, f := range []struct {
		name  string
		value *int32
	}{
		{"parallelism", spec.Parallelism},
		{"completions", spec.Completions},
		{"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished},
		{"backoffLimitPerIndex", spec.BackoffLimitPerIndex},
		{"maxFailedIndexes", spec.MaxFailedIndexes},
	} {
		if f.value != nil {
			allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*f.value), fldPath.Child(f.name))...)
		}
		if f.name == "maxFailedIndexes" && f.value != nil && spec.BackoffLimitPerIndex == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if spec.ManagedBy != nil {
		allErrs = append(allErrs, utilvalidation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			allErrs = append(allErrs, field.TooLongMaxLength(fldPath.Child("managedBy"), *spec.ManagedBy, maxManagedByLength))
		}
	}
	allErrs = append(allErrs, validateCompletionMode(spec, fldPath)...)
	if spec.PodFailurePolicy != nil {
		allErrs = append(allErrs, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		} else {
			allErrs = append(allErrs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
		}
	}
	allErrs = append(allErrs, validatePodReplacementPolicy(spec, fldPath.Child("podReplacementPolicy"))...)
	allErrs = append(allErrs, podvalidation.ValidatePodTemplateSpecWithOptions(&spec.Template, fldPath.Child("template"), podOpts)...)
	allErrs = append(allErrs, validateRestartPolicy(spec, fldPath.Child("template", "spec", "restartPolicy"))...)
	return allErrs
}

func validateCompletionMode(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	mode := ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion)
	if mode != batchv1.NonIndexedCompletion && mode != batchv1.IndexedCompletion {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("completionMode"), mode,
			[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if mode == batchv1.IndexedCompletion {
		if spec.Completions == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
		if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes,
				fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
		}
		if spec.Completions != nil && *spec.Completions > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
			if spec.MaxFailedIndexes == nil {
				allErrs = append(allErrs, field.Required(fldPath.Child("maxFailedIndexes"),
					fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
			}
			if spec.Parallelism != nil && *spec.Parallelism > parallelismLimitForHighCompletions {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", parallelismLimitForHighCompletions, completionsSoftLimit)))
			}
			if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesLimitForHighCompletions {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes,
					fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", maxFailedIndexesLimitForHighCompletions, completionsSoftLimit)))
			}
		}
	}
	if mode == batchv1.NonIndexedCompletion {
		if spec.BackoffLimitPerIndex != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	return allErrs
}

// validateRestartPolicy requires OnFailure or Never. Pod defaults turn an
// unset policy into Always, so both mean "not chosen".
func validateRestartPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	switch policy := spec.Template.Spec.RestartPolicy; {
	case policy == corev1.RestartPolicyAlways || policy == "":
		return field.ErrorList{field.Required(fldPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever))}
	case policy != corev1.RestartPolicyOnFailure && policy != corev1.RestartPolicyNever:
		return field.ErrorList{field.NotSupported(fldPath, policy, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever})}
	case spec.PodFailurePolicy != nil && policy != corev1.RestartPolicyNever:
		return field.ErrorList{field.Invalid(fldPath, policy, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever))}
	}
	return nil
}

func validatePodReplacementPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if spec.PodReplacementPolicy == nil {
		return nil
	}
	policy := *spec.PodReplacementPolicy
	if spec.PodFailurePolicy != nil {
		if policy != batchv1.Failed {
			return field.ErrorList{field.NotSupported(fldPath, policy, []batchv1.PodReplacementPolicy{batchv1.Failed})}
		}
		return nil
	}
	if policy != batchv1.Failed && policy != batchv1.TerminatingOrFailed {
		return field.ErrorList{field.NotSupported(fldPath, policy, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed})}
	}
	return nil
}

// validateCompletionsUpdate keeps completions immutable, except for indexed
// jobs that change completions and parallelism together (elastic jobs).
func validateCompletionsUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if ptr.Deref(spec.CompletionMode, "") != batchv1.IndexedCompletion {
		return apimachineryvalidation.ValidateImmutableField(spec.Completions, oldSpec.Completions, fldPath)
	}
	// A nil value is reported by ValidateSpec.
	if equality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) || spec.Completions == nil {
		return nil
	}
	if !ptr.Equal(spec.Completions, spec.Parallelism) {
		return field.ErrorList{field.Invalid(fldPath, spec.Completions,
			fmt.Sprintf("can only be modified in tandem with %s", fldPath.Root().Child("parallelism").String()))}
	}
	return nil
}

// validateTemplateUpdate keeps the pod template immutable; a suspended job
// that never started may change its scheduling directives.
func validateTemplateUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path, opts options) field.ErrorList {
	template := &spec.Template
	oldTemplate := &oldSpec.Template
	if opts.allowMutableSchedulingDirectives {
		oldTemplate = oldSpec.Template.DeepCopy()
		switch {
		case template.Spec.Affinity == nil && oldTemplate.Spec.Affinity != nil:
			// The affinity may be cleared if it held only node affinity.
			oldTemplate.Spec.Affinity.NodeAffinity = nil
			if *oldTemplate.Spec.Affinity == (corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		case template.Spec.Affinity != nil && oldTemplate.Spec.Affinity == nil:
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: template.Spec.Affinity.NodeAffinity}
		case template.Spec.Affinity != nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = template.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = template.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = template.Spec.Tolerations
		oldTemplate.Annotations = template.Annotations
		oldTemplate.Labels = template.Labels
		oldTemplate.Spec.SchedulingGates = template.Spec.SchedulingGates
	}
	return apimachineryvalidation.ValidateImmutableField(template, oldTemplate, fldPath)
}
