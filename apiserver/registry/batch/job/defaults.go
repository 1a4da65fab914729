package job

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/defaults"
)

// Default sets Kubernetes' batch/v1 defaults on a Job and its pod template.
func Default(j *batchv1.Job) {
	spec := &j.Spec
	// A non-parallel job may leave both unset; both then default to 1.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To[int32](1)
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptr.To[int32](6)
		}
	}
	if spec.Template.Labels != nil && len(j.Labels) == 0 {
		j.Labels = make(map[string]string, len(spec.Template.Labels))
		for k, v := range spec.Template.Labels {
			j.Labels[k] = v
		}
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	// JobPodReplacementPolicy is beta and on in Kubernetes 1.33.
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	DefaultTemplate(spec)
}

// DefaultTemplate sets the defaults that apply to every job spec, including
// the job templates of CronJobs: those of the pod template and the status of
// pod failure policy condition patterns.
func DefaultTemplate(spec *batchv1.JobSpec) {
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			rule := &spec.PodFailurePolicy.Rules[i]
			for j := range rule.OnPodConditions {
				if rule.OnPodConditions[j].Status == "" {
					rule.OnPodConditions[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	defaults.PodTemplateSpec(&spec.Template)
}
