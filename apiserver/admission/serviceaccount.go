package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"berth/apiserver/registry/generic"
)

// DefaultServiceAccount is the service account of pods that name none.
const DefaultServiceAccount = "default"

// ServiceAccount gives pods that name no service account the namespace's
// "default" one, as Kubernetes' ServiceAccount admission plugin does.
type ServiceAccount struct{}

var _ generic.Admission = ServiceAccount{}

// Admit sets the service account of new pods.
func (ServiceAccount) Admit(_ context.Context, a *generic.Attributes) error {
	if a.Operation != generic.Create || a.Resource.Group != "" || a.Resource.Resource != "pods" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccount
		pod.Spec.DeprecatedServiceAccount = DefaultServiceAccount
	}
	return nil
}
