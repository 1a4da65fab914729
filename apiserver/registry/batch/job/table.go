package job

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// columns are those of `kubectl get jobs` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Status", Type: "string", Description: "Status of the job."},
		{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
		{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
		appsrules.SelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	}
}

func cells(j *batchv1.Job) []interface{} {
	names, images := appsrules.ContainerCells(j.Spec.Template.Spec.Containers)
	return []interface{}{
		j.Name,
		status(j),
		completions(j),
		jobDuration(j, time.Now()),
		registry.Age(j.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(j.Spec.Selector),
	}
}

// status is the first that applies of Complete, Failed, Terminating,
// Suspended, FailureTarget and Running.
func status(j *batchv1.Job) string {
	switch {
	case isTrue(j, batchv1.JobComplete):
		return "Complete"
	case isTrue(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case isTrue(j, batchv1.JobSuspended):
		return "Suspended"
	case isTrue(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	default:
		return "Running"
	}
}

// completions renders "succeeded/completions"; a job without completions
// needs one success ("0/1"), or one of its parallel pods ("0/1 of 3").
func completions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration is how long the job ran (so far), empty before it started.
func jobDuration(j *batchv1.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
}
