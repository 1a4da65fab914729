package job

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// prepareForCreate generates the selector and pod labels (unless the
// selector is manual), clears the status and starts the generation at 1.
// The store has already set the uid the selector is made of.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	j := obj.(*batchv1.Job)
	if !ptr.Deref(j.Spec.ManualSelector, false) {
		generateSelector(j)
	}
	j.Status = batchv1.JobStatus{}
	j.Generation = 1
}

// generateSelector labels the pod template with the job's name and uid
// (both legacy and batch.kubernetes.io/ keys) and selects the uid. Labels
// the user already set are kept; validation rejects wrong ones.
func generateSelector(j *batchv1.Job) {
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for _, key := range []string{LegacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := j.Spec.Template.Labels[key]; !ok {
			j.Spec.Template.Labels[key] = j.Name
		}
	}
	for _, key := range []string{LegacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := j.Spec.Template.Labels[key]; !ok {
			j.Spec.Template.Labels[key] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec changes.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	j := obj.(*batchv1.Job)
	oldJ := old.(*batchv1.Job)
	j.Status = oldJ.Status
	if !equality.Semantic.DeepEqual(j.Spec, oldJ.Spec) {
		j.Generation = oldJ.Generation + 1
	}
}

// prepareForStatusUpdate lets a status write change only the status.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*batchv1.Job).Spec = old.(*batchv1.Job).Spec
}
