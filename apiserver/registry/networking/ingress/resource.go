package ingress

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of networking.k8s.io/v1 ingresses.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "networking.k8s.io",
		Version:    "v1",
		Resource:   "ingresses",
		Kind:       "Ingress",
		ListKind:   "IngressList",
		Singular:   "ingress",
		ShortNames: []string{"ing"},
		Namespaced: true,

		New:     func() runtime.Object { return &networkingv1.Ingress{} },
		NewList: func() runtime.Object { return &networkingv1.IngressList{} },

		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: columns(),
		Cells:   cells,

		Status: &registry.StatusSubresource{ValidateUpdate: validateStatusUpdate},
	}
}

// prepareForCreate clears status (create cannot set it) and starts the
// generation at 1.
func prepareForCreate(_ context.Context, obj runtime.Object) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return
	}
	ing.Status = networkingv1.IngressStatus{}
	ing.Generation = 1
}

// prepareForUpdate keeps the stored status and bumps the generation when the
// spec changed.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ing, ok1 := obj.(*networkingv1.Ingress)
	oldIng, ok2 := old.(*networkingv1.Ingress)
	if !ok1 || !ok2 {
		return
	}
	ing.Status = oldIng.Status
	if !apiequality.Semantic.DeepEqual(ing.Spec, oldIng.Spec) {
		ing.Generation = oldIng.Generation + 1
	}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
