package hpa

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of autoscaling/v2 horizontalpodautoscalers.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "autoscaling",
		Version:    "v2",
		Resource:   "horizontalpodautoscalers",
		Kind:       "HorizontalPodAutoscaler",
		ListKind:   "HorizontalPodAutoscalerList",
		Singular:   "horizontalpodautoscaler",
		ShortNames: []string{"hpa"},
		Categories: []string{"all"},
		Namespaced: true,

		New:     func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },

		Default:          setDefaults,
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Reference", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"]},
			{Name: "Targets", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"]},
			{Name: "MinPods", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"]},
			{Name: "MaxPods", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"]},
			{Name: "Replicas", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]},
			registry.AgeColumn,
		},
		Cells: cells,

		Status: &registry.StatusSubresource{ValidateUpdate: validateStatusUpdate},
	}
}

// prepareForCreate clears status, which create cannot set, and drops the
// alpha tolerance field (HPAConfigurableTolerance is off in Kubernetes 1.33).
func prepareForCreate(_ context.Context, obj runtime.Object) {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return
	}
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	dropTolerance(hpa, nil)
}

// prepareForUpdate keeps the stored status and drops a newly set tolerance.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	hpa, ok1 := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	oldHPA, ok2 := old.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok1 || !ok2 {
		return
	}
	hpa.Status = oldHPA.Status
	dropTolerance(hpa, oldHPA)
}

// dropTolerance clears behavior tolerances unless the stored object already
// uses them, as Kubernetes does for a disabled feature gate.
func dropTolerance(hpa, old *autoscalingv2.HorizontalPodAutoscaler) {
	if toleranceInUse(old) || hpa.Spec.Behavior == nil {
		return
	}
	for _, rules := range []*autoscalingv2.HPAScalingRules{hpa.Spec.Behavior.ScaleUp, hpa.Spec.Behavior.ScaleDown} {
		if rules != nil {
			rules.Tolerance = nil
		}
	}
}

func toleranceInUse(hpa *autoscalingv2.HorizontalPodAutoscaler) bool {
	if hpa == nil || hpa.Spec.Behavior == nil {
		return false
	}
	for _, rules := range []*autoscalingv2.HPAScalingRules{hpa.Spec.Behavior.ScaleUp, hpa.Spec.Behavior.ScaleDown} {
		if rules != nil && rules.Tolerance != nil {
			return true
		}
	}
	return false
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
