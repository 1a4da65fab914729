package replicaset

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// columns are those of `kubectl get replicasets` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
		appsrules.SelectorColumn(appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]),
	}
}

func cells(rs *appsv1.ReplicaSet) []interface{} {
	names, images := appsrules.ContainerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		int64(replicas(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		registry.Age(rs.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}
