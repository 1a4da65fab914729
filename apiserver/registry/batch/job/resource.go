package job

import (
	"context"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of batch/v1 jobs.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "batch",
		Version:    "v1",
		Resource:   "jobs",
		Kind:       "Job",
		ListKind:   "JobList",
		Singular:   "job",
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &batchv1.Job{} },
		NewList: func() runtime.Object { return &batchv1.JobList{} },

		Default:          func(obj runtime.Object) { Default(obj.(*batchv1.Job)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*batchv1.Job))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*batchv1.Job)) },
		Fields: func(obj runtime.Object) fields.Set {
			j := obj.(*batchv1.Job)
			return fields.Set{"status.successful": strconv.Itoa(int(j.Status.Succeeded))}
		},

		Status: &registry.StatusSubresource{
			PrepareForUpdate: prepareForStatusUpdate,
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
			},
		},

		// batch/v1 keeps its historical default: deleting a Job without a
		// propagation policy orphans its pods (kubectl asks for Background).
		DefaultPropagation: metav1.DeletePropagationOrphan,
	}
}
