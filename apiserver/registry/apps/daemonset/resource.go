package daemonset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of apps/v1 daemonsets.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "apps",
		Version:    "v1",
		Resource:   "daemonsets",
		Kind:       "DaemonSet",
		ListKind:   "DaemonSetList",
		Singular:   "daemonset",
		ShortNames: []string{"ds"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },

		Default:          func(obj runtime.Object) { Default(obj.(*appsv1.DaemonSet)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*appsv1.DaemonSet))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*appsv1.DaemonSet)) },

		Status: &registry.StatusSubresource{
			PrepareForUpdate: prepareForStatusUpdate,
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet))
			},
		},
	}
}
