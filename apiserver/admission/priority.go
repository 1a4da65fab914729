package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/apiserver/registry/generic"
)

// PriorityClasses reads PriorityClasses.
type PriorityClasses interface {
	Get(ctx context.Context, name string) (*schedulingv1.PriorityClass, error)
	List(ctx context.Context) ([]schedulingv1.PriorityClass, error)
}

// Priority resolves a pod's priorityClassName into spec.priority and
// spec.preemptionPolicy (the global default class, or 0, when it names
// none), and keeps a second global default class from being created, as
// Kubernetes' Priority admission plugin does.
type Priority struct {
	Classes PriorityClasses
}

var _ generic.Admission = (*Priority)(nil)

var podsResource = schema.GroupResource{Resource: "pods"}

// Admit checks pods and PriorityClasses.
func (p *Priority) Admit(ctx context.Context, a *generic.Attributes) error {
	switch {
	case a.Resource.Group == "" && a.Resource.Resource == "pods" && a.Operation == generic.Create:
		return p.pod(ctx, a)
	case a.Resource.Group == schedulingv1.GroupName && a.Resource.Resource == "priorityclasses" &&
		(a.Operation == generic.Create || a.Operation == generic.Update):
		return p.class(ctx, a)
	}
	return nil
}

func (p *Priority) pod(ctx context.Context, a *generic.Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	var value int32
	var policy *corev1.PreemptionPolicy
	name := pod.Spec.PriorityClassName
	if name == "" {
		def, err := p.globalDefault(ctx)
		if err != nil {
			return err
		}
		if def != nil {
			name, value, policy = def.Name, def.Value, def.PreemptionPolicy
			pod.Spec.PriorityClassName = name
		}
	} else {
		pc, err := p.Classes.Get(ctx, name)
		if apierrors.IsNotFound(err) {
			return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		if err != nil {
			return err
		}
		value, policy = pc.Value, pc.PreemptionPolicy
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
		}
		pod.Spec.PreemptionPolicy = policy
	}
	return nil
}

func (p *Priority) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	classes, err := p.Classes.List(ctx)
	if err != nil {
		return nil, err
	}
	var def *schedulingv1.PriorityClass
	for i := range classes {
		c := &classes[i]
		// Several defaults can only come from a race; the lowest wins, as
		// in Kubernetes.
		if c.GlobalDefault && (def == nil || c.Value < def.Value) {
			def = c
		}
	}
	return def, nil
}

func (p *Priority) class(ctx context.Context, a *generic.Attributes) error {
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GlobalDefault {
		return nil
	}
	def, err := p.globalDefault(ctx)
	if err != nil {
		return err
	}
	if def != nil && def.Name != pc.Name {
		return apierrors.NewForbidden(schedulingv1.Resource("priorityclasses"), pc.Name,
			errors.New("PriorityClass "+def.Name+" is already marked as default. Only one default can exist"))
	}
	return nil
}
