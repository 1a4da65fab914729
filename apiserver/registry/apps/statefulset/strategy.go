package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// prepareForCreate clears what users may not set on creation.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	s := obj.(*appsv1.StatefulSet)
	s.Status = appsv1.StatefulSetStatus{}
	s.Generation = 1
	dropDisabledFields(s, nil)
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec changes.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	s := obj.(*appsv1.StatefulSet)
	oldS := old.(*appsv1.StatefulSet)
	s.Status = oldS.Status
	dropDisabledFields(s, oldS)
	if !equality.Semantic.DeepEqual(s.Spec, oldS.Spec) {
		s.Generation = oldS.Generation + 1
	}
}

// dropDisabledFields clears updateStrategy.rollingUpdate.maxUnavailable:
// MaxUnavailableStatefulSet is an alpha feature, off in Kubernetes 1.33. A
// value already stored is kept.
func dropDisabledFields(s, old *appsv1.StatefulSet) {
	if old != nil && old.Spec.UpdateStrategy.RollingUpdate != nil && old.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil {
		return
	}
	if s.Spec.UpdateStrategy.RollingUpdate != nil {
		s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = nil
	}
}

// prepareForStatusUpdate lets a status write change only the status.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*appsv1.StatefulSet).Spec = old.(*appsv1.StatefulSet).Spec
}
