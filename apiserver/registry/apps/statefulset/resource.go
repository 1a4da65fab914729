package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// Resource returns the description of apps/v1 statefulsets.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "apps",
		Version:    "v1",
		Resource:   "statefulsets",
		Kind:       "StatefulSet",
		ListKind:   "StatefulSetList",
		Singular:   "statefulset",
		ShortNames: []string{"sts"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },

		// Pod names are <name>-<ordinal> and double as hostnames, so the
		// name must be a DNS label.
		ValidateName: apimachineryvalidation.NameIsDNSLabel,

		Default:          func(obj runtime.Object) { Default(obj.(*appsv1.StatefulSet)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*appsv1.StatefulSet))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*appsv1.StatefulSet)) },

		Status: &registry.StatusSubresource{
			PrepareForUpdate: prepareForStatusUpdate,
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
			},
		},
		Scale: &registry.ScaleSubresource{
			Get: func(obj runtime.Object) (int32, int32, string) {
				s := obj.(*appsv1.StatefulSet)
				sel, _ := appsrules.SelectorString(s.Spec.Selector)
				return replicas(s.Spec.Replicas), s.Status.Replicas, sel
			},
			Set: func(obj runtime.Object, n int32) {
				obj.(*appsv1.StatefulSet).Spec.Replicas = &n
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
