package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// columns are those of `kubectl get daemonsets` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	status := appsv1.DaemonSetStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Desired", Type: "integer", Description: status["desiredNumberScheduled"]},
		{Name: "Current", Type: "integer", Description: status["currentNumberScheduled"]},
		{Name: "Ready", Type: "integer", Description: status["numberReady"]},
		{Name: "Up-to-date", Type: "integer", Description: status["updatedNumberScheduled"]},
		{Name: "Available", Type: "integer", Description: status["numberAvailable"]},
		{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
		appsrules.SelectorColumn(appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	}
}

func cells(ds *appsv1.DaemonSet) []interface{} {
	s := &ds.Status
	names, images := appsrules.ContainerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name,
		int64(s.DesiredNumberScheduled),
		int64(s.CurrentNumberScheduled),
		int64(s.NumberReady),
		int64(s.UpdatedNumberScheduled),
		int64(s.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		registry.Age(ds.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}
