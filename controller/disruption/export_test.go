package disruption

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Exported for the integration test (package disruption_test, external
// because the test server imports this package).
var (
	I32 = i32
	Ref = ref
)

// Scale is what ScaleOf finds.
type Scale struct {
	Replicas int32
	UID      types.UID
}

// ScaleOf reads the scale of a pod's controller as the controller does.
func ScaleOf(ctx context.Context, client kubernetes.Interface, ref *metav1.OwnerReference, namespace string) (*Scale, error) {
	s, err := (&apiScales{client: client}).scaleOf(ctx, ref, namespace)
	if s == nil || err != nil {
		return nil, err
	}
	return &Scale{Replicas: s.replicas, UID: s.uid}, nil
}
