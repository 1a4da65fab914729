package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// prepareForCreate clears what users may not set on creation.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	rs.Status = appsv1.ReplicaSetStatus{}
	rs.Generation = 1
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec changes.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	oldRS := old.(*appsv1.ReplicaSet)
	rs.Status = oldRS.Status
	if !equality.Semantic.DeepEqual(rs.Spec, oldRS.Spec) {
		rs.Generation = oldRS.Generation + 1
	}
}

// prepareForStatusUpdate lets a status write change only the status.
// status.terminatingReplicas belongs to an alpha feature that is off in
// Kubernetes 1.33, so it is dropped unless already stored.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	oldRS := old.(*appsv1.ReplicaSet)
	rs.Spec = oldRS.Spec
	if oldRS.Status.TerminatingReplicas == nil {
		rs.Status.TerminatingReplicas = nil
	}
}
