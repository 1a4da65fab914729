package admission

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"

	"berth/apiserver/registry/generic"
)

// IngressClasses lists IngressClasses.
type IngressClasses interface {
	List(ctx context.Context) ([]networkingv1.IngressClass, error)
}

// DefaultIngressClass sets spec.ingressClassName of a new Ingress that
// names no class (neither the field nor the legacy kubernetes.io/
// ingress.class annotation) to the default IngressClass — the one marked
// ingressclass.kubernetes.io/is-default-class: "true", the newest if
// several are — as Kubernetes' DefaultIngressClass admission plugin does.
type DefaultIngressClass struct {
	Classes IngressClasses
}

var _ generic.Admission = (*DefaultIngressClass)(nil)

// legacyIngressClass is the annotation that named an Ingress's class
// before spec.ingressClassName.
const legacyIngressClass = "kubernetes.io/ingress.class"

// Admit defaults the class of created Ingresses.
func (d *DefaultIngressClass) Admit(ctx context.Context, a *generic.Attributes) error {
	if a.Resource.Group != networkingv1.GroupName || a.Resource.Resource != "ingresses" || a.Operation != generic.Create {
		return nil
	}
	ing, ok := a.Object.(*networkingv1.Ingress)
	if !ok || ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[legacyIngressClass]; ok {
		return nil
	}
	classes, err := d.Classes.List(ctx)
	if err != nil {
		return err
	}
	var def *networkingv1.IngressClass
	for i := range classes {
		c := &classes[i]
		if c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "true" {
			continue
		}
		if def == nil || c.CreationTimestamp.After(def.CreationTimestamp.Time) ||
			(c.CreationTimestamp.Equal(&def.CreationTimestamp) && c.Name < def.Name) {
			def = c
		}
	}
	if def != nil {
		name := def.Name
		ing.Spec.IngressClassName = &name
	}
	return nil
}
