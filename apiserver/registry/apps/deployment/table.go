package deployment

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// columns are those of `kubectl get deployments` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
		appsrules.SelectorColumn(appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	}
}

func cells(d *appsv1.Deployment) []interface{} {
	selector, err := appsrules.SelectorString(d.Spec.Selector)
	if err != nil {
		selector = "<invalid>"
	}
	names, images := appsrules.ContainerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		registry.Age(d.CreationTimestamp),
		names, images, selector,
	}
}
