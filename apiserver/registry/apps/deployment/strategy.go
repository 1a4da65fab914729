package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// prepareForCreate clears what users may not set on creation.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	d := obj.(*appsv1.Deployment)
	d.Status = appsv1.DeploymentStatus{}
	d.Generation = 1
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec or the annotations change: annotations are copied to the replica
// sets, so the controller must see their changes as new generations.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	d := obj.(*appsv1.Deployment)
	oldD := old.(*appsv1.Deployment)
	d.Status = oldD.Status
	if !equality.Semantic.DeepEqual(d.Spec, oldD.Spec) ||
		!equality.Semantic.DeepEqual(d.Annotations, oldD.Annotations) {
		d.Generation = oldD.Generation + 1
	}
}

// prepareForStatusUpdate lets a status write change only the status: spec
// and labels stay as stored. status.terminatingReplicas belongs to an alpha
// feature that is off in Kubernetes 1.33, so it is dropped unless already
// stored.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	d := obj.(*appsv1.Deployment)
	oldD := old.(*appsv1.Deployment)
	d.Spec = oldD.Spec
	d.Labels = oldD.Labels
	if oldD.Status.TerminatingReplicas == nil {
		d.Status.TerminatingReplicas = nil
	}
}
