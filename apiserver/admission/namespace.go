// Package admission holds the API server's admission checks: rules a write
// must pass after validation, which need to look at other objects.
package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/apiserver/registry/generic"
)

// Namespaces reads namespaces.
type Namespaces interface {
	Get(ctx context.Context, namespace, name string) (runtime.Object, error)
}

// Immortal namespaces cannot be deleted.
var immortal = map[string]bool{
	metav1NamespaceDefault: true, "kube-system": true, "kube-public": true,
}

const metav1NamespaceDefault = "default"

// NamespaceLifecycle refuses objects in namespaces that do not exist or are
// being deleted, and the deletion of the system namespaces, as Kubernetes'
// NamespaceLifecycle admission plugin does.
type NamespaceLifecycle struct {
	Namespaces Namespaces
}

var _ generic.Admission = (*NamespaceLifecycle)(nil)

var namespacesResource = schema.GroupResource{Resource: "namespaces"}

// Admit checks one write.
func (n *NamespaceLifecycle) Admit(ctx context.Context, a *generic.Attributes) error {
	r := a.Resource
	if r.Group == "" && r.Resource == "namespaces" {
		if a.Operation == generic.Delete && immortal[a.Name] {
			return apierrors.NewForbidden(namespacesResource, a.Name, errors.New("this namespace may not be deleted"))
		}
		return nil
	}
	if !r.Namespaced || a.Operation != generic.Create {
		return nil
	}
	obj, err := n.Namespaces.Get(ctx, "", a.Namespace)
	if err != nil {
		return err
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return fmt.Errorf("namespace %s: unexpected %T", a.Namespace, obj)
	}
	// Events may still be written while a namespace is being emptied.
	if ns.Status.Phase == corev1.NamespaceTerminating && !(r.Resource == "events") {
		err := apierrors.NewForbidden(r.GroupResource(), a.Name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}
