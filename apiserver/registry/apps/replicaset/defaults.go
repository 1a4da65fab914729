package replicaset

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/defaults"
)

// Default sets Kubernetes' apps/v1 defaults on a ReplicaSet and its pod
// template.
func Default(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	defaults.PodTemplateSpec(&rs.Spec.Template)
}
