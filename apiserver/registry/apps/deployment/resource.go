package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// Resource returns the description of apps/v1 deployments.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "apps",
		Version:    "v1",
		Resource:   "deployments",
		Kind:       "Deployment",
		ListKind:   "DeploymentList",
		Singular:   "deployment",
		ShortNames: []string{"deploy"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &appsv1.Deployment{} },
		NewList: func() runtime.Object { return &appsv1.DeploymentList{} },

		Default:          func(obj runtime.Object) { Default(obj.(*appsv1.Deployment)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*appsv1.Deployment))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*appsv1.Deployment), old.(*appsv1.Deployment))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*appsv1.Deployment)) },

		Status: &registry.StatusSubresource{
			PrepareForUpdate: prepareForStatusUpdate,
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*appsv1.Deployment), old.(*appsv1.Deployment))
			},
		},
		Scale: &registry.ScaleSubresource{
			Get: func(obj runtime.Object) (int32, int32, string) {
				d := obj.(*appsv1.Deployment)
				sel, _ := appsrules.SelectorString(d.Spec.Selector)
				return replicas(d.Spec.Replicas), d.Status.Replicas, sel
			},
			Set: func(obj runtime.Object, n int32) {
				obj.(*appsv1.Deployment).Spec.Replicas = &n
			},
		},
	}
}

// replicas reads a defaulted replica count (nil converts to 0, as in
// Kubernetes' internal types).
func replicas(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
