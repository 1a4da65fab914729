package server

import (
	"context"

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
	return admitter{admission.ServiceAccount{}}
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
