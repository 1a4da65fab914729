package server

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/admission"
	"berth/apiserver/registry/generic"
)

// admitter runs the admission checks of every write, in order.
type admitter []generic.Admission

func (a admitter) Admit(ctx context.Context, attrs *generic.Attributes) error {
	for _, c := range a {
		if err := c.Admit(ctx, attrs); err != nil {
			return err
		}
	}
	return nil
}

// mutatingAdmission adjusts writes before validation.
func (s *Server) mutatingAdmission() generic.Admission {
	return admitter{
		// Namespace checks come first, as in Kubernetes: a pod in a missing
		// namespace is refused for that, not for its service account.
		&admission.NamespaceLifecycle{Namespaces: namespaceGetter{s}},
		s.serviceAccountAdmission(),
		admission.DefaultTolerationSeconds{Seconds: s.cfg.DefaultTolerationSeconds},
		&admission.Priority{Classes: priorityClasses{s}},
		&admission.DefaultIngressClass{Classes: ingressClasses{s}},
	}
}

// validatingAdmission checks writes after validation.
func (s *Server) validatingAdmission() generic.Admission {
	return admitter{
		&admission.NamespaceLifecycle{Namespaces: namespaceGetter{s}},
	}
}

// namespaceGetter reads namespaces through the server's store, which exists
// only once the resources are wired.
type namespaceGetter struct{ s *Server }

// Get reads from the watch cache, and from etcd when the cache does not
// have the namespace yet (it may have just been created).
func (n namespaceGetter) Get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	return n.s.store("namespaces").GetCached(ctx, namespace, name)
}

// priorityClasses reads PriorityClasses for the Priority admission plugin.
type priorityClasses struct{ s *Server }

func (p priorityClasses) Get(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	obj, err := p.s.store("priorityclasses.scheduling.k8s.io").GetCached(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*schedulingv1.PriorityClass), nil
}

func (p priorityClasses) List(ctx context.Context) ([]schedulingv1.PriorityClass, error) {
	list, err := p.s.store("priorityclasses.scheduling.k8s.io").List(ctx, "", &metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	return list.(*schedulingv1.PriorityClassList).Items, nil
}

// ingressClasses reads IngressClasses for the DefaultIngressClass
// admission plugin.
type ingressClasses struct{ s *Server }

func (c ingressClasses) List(ctx context.Context) ([]networkingv1.IngressClass, error) {
	list, err := c.s.store("ingressclasses.networking.k8s.io").List(ctx, "", &metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	return list.(*networkingv1.IngressClassList).Items, nil
}

// serviceAccountAdmission defaults the service account of new pods and,
// unless turned off, checks it exists and mounts its token.
func (s *Server) serviceAccountAdmission() admission.ServiceAccount {
	if s.cfg.DisableServiceAccountAdmission {
		return admission.ServiceAccount{}
	}
	return admission.ServiceAccount{ServiceAccounts: serviceAccountGetter{s}}
}
