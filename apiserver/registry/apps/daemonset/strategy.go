package daemonset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// prepareForCreate clears what users may not set on creation and starts the
// template generation at 1 (unless a higher one was given).
func prepareForCreate(_ context.Context, obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	ds.Status = appsv1.DaemonSetStatus{}
	ds.Generation = 1
	if v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n >= 1 {
			return // kept; an unparsable value is rejected by validation
		}
	}
	setTemplateGeneration(ds, 1)
}

// prepareForUpdate keeps the stored status and template generation, bumps
// the template generation when the template changes and the generation when
// the spec changes.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	oldDS := old.(*appsv1.DaemonSet)
	ds.Status = oldDS.Status

	oldTemplateGeneration := templateGeneration(oldDS)
	if !equality.Semantic.DeepEqual(ds.Spec.Template, oldDS.Spec.Template) {
		setTemplateGeneration(ds, oldTemplateGeneration+1)
		ds.Generation = oldDS.Generation + 1
		return
	}
	setTemplateGeneration(ds, oldTemplateGeneration)
	if !equality.Semantic.DeepEqual(ds.Spec, oldDS.Spec) {
		ds.Generation = oldDS.Generation + 1
	}
}

// templateGeneration reads the template generation of a stored DaemonSet
// (0 when absent, as in Kubernetes' internal type).
func templateGeneration(ds *appsv1.DaemonSet) int64 {
	n, _ := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	return n
}

// setTemplateGeneration writes the annotation, which apps/v1 DaemonSets
// always carry, without changing a map shared with another object.
func setTemplateGeneration(ds *appsv1.DaemonSet, n int64) {
	annotations := make(map[string]string, len(ds.Annotations)+1)
	for k, v := range ds.Annotations {
		annotations[k] = v
	}
	annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(n, 10)
	ds.Annotations = annotations
}

// prepareForStatusUpdate lets a status write change only the status.
func prepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*appsv1.DaemonSet).Spec = old.(*appsv1.DaemonSet).Spec
}
