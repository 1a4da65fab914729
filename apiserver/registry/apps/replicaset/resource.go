package replicaset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// Resource returns the description of apps/v1 replicasets.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "apps",
		Version:    "v1",
		Resource:   "replicasets",
		Kind:       "ReplicaSet",
		ListKind:   "ReplicaSetList",
		Singular:   "replicaset",
		ShortNames: []string{"rs"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },

		Default:          func(obj runtime.Object) { Default(obj.(*appsv1.ReplicaSet)) },
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*appsv1.ReplicaSet))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*appsv1.ReplicaSet)) },
		Fields: func(obj runtime.Object) fields.Set {
			rs := obj.(*appsv1.ReplicaSet)
			return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
		},

		Status: &registry.StatusSubresource{
			PrepareForUpdate: prepareForStatusUpdate,
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet))
			},
		},
		Scale: &registry.ScaleSubresource{
			Get: func(obj runtime.Object) (int32, int32, string) {
				rs := obj.(*appsv1.ReplicaSet)
				sel, _ := appsrules.SelectorString(rs.Spec.Selector)
				return replicas(rs.Spec.Replicas), rs.Status.Replicas, sel
			},
			Set: func(obj runtime.Object, n int32) {
				obj.(*appsv1.ReplicaSet).Spec.Replicas = &n
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
