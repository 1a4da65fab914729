package registry

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// NameColumn is the first column of every table, as in Kubernetes.
var NameColumn = metav1.TableColumnDefinition{
	Name: "Name", Type: "string", Format: "name",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["name"],
}

// AgeColumn is the "Age" column most tables end with.
var AgeColumn = metav1.TableColumnDefinition{
	Name: "Age", Type: "string",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
}

// Age renders a timestamp as the time since then ("5m", "3d2h"), or
// "<unknown>" when it is unset, as kubectl's columns do.
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}
