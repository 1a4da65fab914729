package cronjob

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
	"berth/apiserver/registry/batch/job"
)

// Resource returns the description of batch/v1 cronjobs.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "batch",
		Version:    "v1",
		Resource:   "cronjobs",
		Kind:       "CronJob",
		ListKind:   "CronJobList",
		Singular:   "cronjob",
		ShortNames: []string{"cj"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &batchv1.CronJob{} },
		NewList: func() runtime.Object { return &batchv1.CronJobList{} },

		Default:          func(obj runtime.Object) { Default(obj.(*batchv1.CronJob)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*batchv1.CronJob))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*batchv1.CronJob), old.(*batchv1.CronJob))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*batchv1.CronJob)) },

		// Status writes are not validated, as in Kubernetes.
		Status: &registry.StatusSubresource{
			PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
				obj.(*batchv1.CronJob).Spec = old.(*batchv1.CronJob).Spec
			},
		},
	}
}

// Default sets Kubernetes' batch/v1 defaults on a CronJob and its job's pod
// template. The job template's own spec is not defaulted as a Job is: the
// Job gets those defaults when the controller creates it.
func Default(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	job.DefaultTemplate(&spec.JobTemplate.Spec)
}

// prepareForCreate clears what users may not set on creation.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	cj.Status = batchv1.CronJobStatus{}
	cj.Generation = 1
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec changes.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	oldCJ := old.(*batchv1.CronJob)
	cj.Status = oldCJ.Status
	if !equality.Semantic.DeepEqual(cj.Spec, oldCJ.Spec) {
		cj.Generation = oldCJ.Generation + 1
	}
}

// columns are those of `kubectl get cronjobs` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	spec := batchv1.CronJobSpec{}.SwaggerDoc()
	status := batchv1.CronJobStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Schedule", Type: "string", Description: spec["schedule"]},
		{Name: "Timezone", Type: "string", Description: spec["timeZone"]},
		{Name: "Suspend", Type: "boolean", Description: spec["suspend"]},
		{Name: "Active", Type: "integer", Description: status["active"]},
		{Name: "Last Schedule", Type: "string", Description: status["lastScheduleTime"]},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
		appsrules.SelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	}
}

func cells(cj *batchv1.CronJob) []interface{} {
	lastSchedule := "<none>"
	if cj.Status.LastScheduleTime != nil {
		lastSchedule = registry.Age(*cj.Status.LastScheduleTime)
	}
	timeZone := "<none>"
	if cj.Spec.TimeZone != nil {
		timeZone = *cj.Spec.TimeZone
	}
	suspend := "<unset>"
	if cj.Spec.Suspend != nil {
		suspend = "False"
		if *cj.Spec.Suspend {
			suspend = "True"
		}
	}
	names, images := appsrules.ContainerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return []interface{}{
		cj.Name,
		cj.Spec.Schedule,
		timeZone,
		suspend,
		int64(len(cj.Status.Active)),
		lastSchedule,
		registry.Age(cj.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
	}
}
