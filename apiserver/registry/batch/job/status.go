package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// ValidateStatusUpdate checks a write to the status subresource. As in
// Kubernetes 1.33 (JobManagedBy on), status transitions are checked so that
// controllers other than the built-in one cannot break the Job API's
// promises; most rules apply only when the fields they look at change, so
// that an update unrelated to a bad field still goes through.
func ValidateStatusUpdate(j, old *batchv1.Job) field.ErrorList {
	statusPath := field.NewPath("status")
	s, oldS := &j.Status, &old.Status
	isIndexed := ptr.Deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion

	finished, oldFinished := isFinished(j), isFinished(old)
	complete, oldComplete := isTrue(j, batchv1.JobComplete), isTrue(old, batchv1.JobComplete)
	failed, oldFailed := isTrue(j, batchv1.JobFailed), isTrue(old, batchv1.JobFailed)
	failureTarget, oldFailureTarget := isTrue(j, batchv1.JobFailureTarget), isTrue(old, batchv1.JobFailureTarget)
	successCriteriaMet, oldSuccessCriteriaMet := isTrue(j, batchv1.JobSuccessCriteriaMet), isTrue(old, batchv1.JobSuccessCriteriaMet)

	finishedChanged := finished != oldFinished
	completeChanged := complete != oldComplete
	completedIndexesChanged := s.CompletedIndexes != oldS.CompletedIndexes
	failedIndexesChanged := !ptr.Equal(s.FailedIndexes, oldS.FailedIndexes)
	startTimeChanged := !timeEqual(s.StartTime, oldS.StartTime)
	completionTimeChanged := !timeEqual(s.CompletionTime, oldS.CompletionTime)
	uncountedChanged := !equality.Semantic.DeepEqual(s.UncountedTerminatedPods, oldS.UncountedTerminatedPods)

	var allErrs field.ErrorList
	invalidConditions := func(msg string) {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("conditions"), field.OmitValueType{}, msg))
	}

	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.Active), statusPath.Child("active"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.Succeeded), statusPath.Child("succeeded"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(s.Failed), statusPath.Child("failed"))...)
	if s.Ready != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.Ready), statusPath.Child("ready"))...)
	}
	if s.Terminating != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*s.Terminating), statusPath.Child("terminating"))...)
	}
	allErrs = append(allErrs, validateUncounted(s.UncountedTerminatedPods, statusPath.Child("uncountedTerminatedPods"))...)

	if (completeChanged || failed != oldFailed) && complete && failed {
		invalidConditions("cannot set Complete=True and Failed=true conditions")
	}
	if (completeChanged || failureTarget != oldFailureTarget) && complete && failureTarget {
		invalidConditions("cannot set Complete=True and FailureTarget=true conditions")
	}
	if (completeChanged || completionTimeChanged) && s.CompletionTime != nil && !complete {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if (completeChanged || completionTimeChanged) && s.CompletionTime == nil && complete {
		allErrs = append(allErrs, field.Required(statusPath.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if (startTimeChanged || completionTimeChanged) && s.StartTime != nil && s.CompletionTime != nil && s.CompletionTime.Before(s.StartTime) {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if (finishedChanged || s.Active != oldS.Active) && s.Active > 0 && finished {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("active"), s.Active, "active>0 is invalid for finished job"))
	}
	if (finishedChanged || startTimeChanged) && s.StartTime == nil && finished {
		allErrs = append(allErrs, field.Required(statusPath.Child("startTime"), "startTime is required for finished job"))
	}
	if (finishedChanged || uncountedChanged) && finished && s.UncountedTerminatedPods != nil &&
		len(s.UncountedTerminatedPods.Failed)+len(s.UncountedTerminatedPods.Succeeded) > 0 {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("uncountedTerminatedPods"), s.UncountedTerminatedPods, "uncountedTerminatedPods needs to be empty for finished job"))
	}
	if completedIndexesChanged && j.Spec.Completions != nil {
		if _, err := parseIndexes(s.CompletedIndexes, *j.Spec.Completions); err != nil {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("completedIndexes"), s.CompletedIndexes, fmt.Sprintf("error parsing completedIndexes: %s", err)))
		}
	}
	if failedIndexesChanged && j.Spec.Completions != nil && j.Spec.BackoffLimitPerIndex != nil && s.FailedIndexes != nil {
		if _, err := parseIndexes(*s.FailedIndexes, *j.Spec.Completions); err != nil {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("failedIndexes"), s.FailedIndexes, fmt.Sprintf("error parsing failedIndexes: %s", err)))
		}
	}
	if completedIndexesChanged && s.CompletedIndexes != "" && !isIndexed {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("completedIndexes"), s.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if failedIndexesChanged && j.Spec.BackoffLimitPerIndex == nil && s.FailedIndexes != nil {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("failedIndexes"), *s.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if (failedIndexesChanged || completedIndexesChanged) && j.Spec.Completions != nil && s.FailedIndexes != nil {
		if err := indexesOverlap(s.CompletedIndexes, *s.FailedIndexes, *j.Spec.Completions); err != nil {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("failedIndexes"), *s.FailedIndexes, err.Error()))
		}
	}
	if successCriteriaMet && failed {
		invalidConditions("cannot set SuccessCriteriaMet=True and Failed=true conditions")
	}
	if successCriteriaMet && failureTarget {
		invalidConditions("cannot set SuccessCriteriaMet=True and FailureTarget=true conditions")
	}
	if j.Spec.SuccessPolicy != nil && !successCriteriaMet && complete {
		invalidConditions("cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True")
	}

	// Transitions.
	for _, c := range []struct {
		t        batchv1.JobConditionType
		was, now bool
	}{
		{batchv1.JobFailed, oldFailed, failed},
		{batchv1.JobComplete, oldComplete, complete},
		{batchv1.JobFailureTarget, oldFailureTarget, failureTarget},
	} {
		if c.was && !c.now {
			invalidConditions(fmt.Sprintf("cannot disable the terminal %s=True condition", c.t))
		}
	}
	if s.Failed < oldS.Failed {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	// Indexed jobs with completions == parallelism may be scaled down.
	if (!isIndexed || !ptr.Equal(j.Spec.Completions, j.Spec.Parallelism)) && s.Succeeded < oldS.Succeeded {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	if s.CompletionTime != nil && oldS.CompletionTime != nil && !timeEqual(s.CompletionTime, oldS.CompletionTime) {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("completionTime"), s.CompletionTime, "completionTime cannot be mutated"))
	}
	if startTimeChanged && oldS.StartTime != nil && !ptr.Deref(j.Spec.Suspend, false) {
		allErrs = append(allErrs, field.Required(statusPath.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	if oldSuccessCriteriaMet && !successCriteriaMet {
		invalidConditions("cannot disable the SuccessCriteriaMet=True condition")
	}
	if oldComplete && !oldSuccessCriteriaMet && successCriteriaMet {
		invalidConditions("cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions")
	}
	return allErrs
}

func validateUncounted(u *batchv1.UncountedTerminatedPods, fldPath *field.Path) field.ErrorList {
	if u == nil {
		return nil
	}
	var allErrs field.ErrorList
	seen := sets.New[types.UID]()
	check := func(list []types.UID, p *field.Path) {
		for i, uid := range list {
			switch {
			case uid == "":
				allErrs = append(allErrs, field.Invalid(p.Index(i), uid, "must not be empty"))
			case seen.Has(uid):
				allErrs = append(allErrs, field.Duplicate(p.Index(i), uid))
			default:
				seen.Insert(uid)
			}
		}
	}
	check(u.Succeeded, fldPath.Child("succeeded"))
	check(u.Failed, fldPath.Child("failed"))
	return allErrs
}

func isTrue(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// isFinished reports a Complete=True or Failed=True condition.
func isFinished(j *batchv1.Job) bool {
	return isTrue(j, batchv1.JobComplete) || isTrue(j, batchv1.JobFailed)
}

func timeEqual(a, b *metav1.Time) bool {
	return equality.Semantic.DeepEqual(a, b)
}
