package appsrules

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The wide columns most workload tables end with.
var (
	ContainersColumn = metav1.TableColumnDefinition{
		Name: "Containers", Type: "string", Priority: 1,
		Description: "Names of each container in the template.",
	}
	ImagesColumn = metav1.TableColumnDefinition{
		Name: "Images", Type: "string", Priority: 1,
		Description: "Images referenced by each container in the template.",
	}
)

// SelectorColumn is the wide "Selector" column, described by doc.
func SelectorColumn(doc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1, Description: doc}
}

// ContainerCells lays out the container names and images of a template on
// one line each, comma separated, as kubectl's wide output does.
func ContainerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i] = c.Name
		im[i] = c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
