package pod

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/defaults"
	"berth/apiserver/registry"
)

// Resource returns the description of core/v1 pods.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:               "",
		Version:             "v1",
		Resource:            "pods",
		Kind:                "Pod",
		ListKind:            "PodList",
		Singular:            "pod",
		ShortNames:          []string{"po"},
		Categories:          []string{"all"},
		Namespaced:          true,
		ReturnDeletedObject: true,

		New:     func() runtime.Object { return &corev1.Pod{} },
		NewList: func() runtime.Object { return &corev1.PodList{} },

		Default:          func(obj runtime.Object) { defaults.Pod(obj.(*corev1.Pod)) },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) { prepareForCreate(obj.(*corev1.Pod)) },
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			obj.(*corev1.Pod).Status = *old.(*corev1.Pod).Status.DeepCopy()
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateCreate(obj.(*corev1.Pod))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return validateUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*corev1.Pod)) },
		Fields:  func(obj runtime.Object) fields.Set { return selectableFields(obj.(*corev1.Pod)) },

		Status: &registry.StatusSubresource{
			PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
				prepareForStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
			},
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return validateStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
			},
		},

		GracefulDelete: func(obj runtime.Object, opts *metav1.DeleteOptions) bool {
			return gracefulDelete(obj.(*corev1.Pod), opts)
		},
	}
}

// prepareForStatusUpdate keeps everything a status update may not change:
// the spec, the owner references (old kubelets corrupted them) and the
// deletion timestamp. Labels and annotations may change through
// pods/status, as in Kubernetes. A status without qosClass keeps the old
// one.
func prepareForStatusUpdate(pod, old *corev1.Pod) {
	pod.Spec = *old.Spec.DeepCopy()
	pod.DeletionTimestamp = old.DeletionTimestamp.DeepCopy()
	pod.OwnerReferences = append([]metav1.OwnerReference(nil), old.OwnerReferences...)
	if pod.Status.QOSClass == "" {
		pod.Status.QOSClass = old.Status.QOSClass
	}
}

// selectableFields returns the pod fields usable in a field selector, besides
// metadata.name and metadata.namespace.
func selectableFields(pod *corev1.Pod) fields.Set {
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}

// gracefulDelete decides the grace period of a pod deletion as Kubernetes
// does: the request's grace period, else the pod's
// terminationGracePeriodSeconds (0 when unset); 0 for a pod never scheduled
// or already terminated; a negative value becomes 1. The decided value is
// written to opts. It reports whether the pod is kept, terminating, for a
// grace period (false means it is deleted at once).
func gracefulDelete(pod *corev1.Pod, opts *metav1.DeleteOptions) bool {
	if opts == nil {
		return false
	}
	period := int64(0)
	switch {
	case opts.GracePeriodSeconds != nil:
		period = *opts.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" {
		period = 0
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	opts.GracePeriodSeconds = &period
	return period > 0
}
