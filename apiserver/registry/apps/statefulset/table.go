package statefulset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/appsrules"
)

// columns are those of `kubectl get statefulsets` (with -o wide).
func columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		registry.AgeColumn,
		appsrules.ContainersColumn,
		appsrules.ImagesColumn,
	}
}

func cells(s *appsv1.StatefulSet) []interface{} {
	names, images := appsrules.ContainerCells(s.Spec.Template.Spec.Containers)
	return []interface{}{
		s.Name,
		fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)),
		registry.Age(s.CreationTimestamp),
		names, images,
	}
}
