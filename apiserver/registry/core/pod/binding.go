package pod

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// Binding returns the pods/binding subresource: the scheduler assigns a pod
// to a node by creating a Binding, which sets spec.nodeName once.
func Binding() registry.Subresource {
	return registry.Subresource{
		Name:  "binding",
		Kind:  corev1.SchemeGroupVersion.WithKind("Binding"),
		Verbs: []string{"create"},
		New:   func() runtime.Object { return &corev1.Binding{} },
		Create: func(ctx context.Context, objs registry.Objects, namespace, name string, body runtime.Object, _ *metav1.CreateOptions) (runtime.Object, error) {
			return bind(ctx, objs, namespace, name, body.(*corev1.Binding))
		},
	}
}

func bind(ctx context.Context, objs registry.Objects, namespace, name string, b *corev1.Binding) (runtime.Object, error) {
	if b.Name != "" && b.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", b.Name, name))
	}
	if b.Namespace != "" && b.Namespace != namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name, errs)
	}
	_, err := objs.Modify(ctx, namespace, name, func(obj runtime.Object) (runtime.Object, error) {
		pod := obj.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(podsResource, name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(podsResource, name, fmt.Errorf("pod %v is already assigned to node %q", name, pod.Spec.NodeName))
		}
		if len(pod.Spec.SchedulingGates) > 0 {
			return nil, apierrors.NewConflict(podsResource, name, fmt.Errorf("pod %v has non-empty .spec.schedulingGates", name))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		return pod, nil
	})
	if err != nil {
		return nil, err
	}
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}, nil
}

// setCondition sets a pod condition, keeping its transition time when its
// status does not change.
func setCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for i := range status.Conditions {
		cur := &status.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status != c.Status {
			cur.LastTransitionTime = now
		}
		cur.Status, cur.Reason, cur.Message = c.Status, c.Reason, c.Message
		cur.LastProbeTime = c.LastProbeTime
		return
	}
	c.LastTransitionTime = now
	status.Conditions = append(status.Conditions, c)
}
