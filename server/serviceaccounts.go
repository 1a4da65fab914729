package server

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/serviceaccount"
	satoken "berth/apiserver/serviceaccount"
)

// serviceAccountResource returns service accounts with their token
// subresource.
func (s *Server) serviceAccountResource() *registry.Resource {
	r := serviceaccount.Resource()
	r.Extra = append(r.Extra, serviceaccount.Token(s.signer, tokenObjects{s}))
	return r
}

// tokenObjects gives the token subresource, the token authenticator and
// the ServiceAccount admission plugin the objects they look at.
type tokenObjects struct{ s *Server }

var _ satoken.Objects = tokenObjects{}

func getAs[T any](ctx context.Context, s *Server, resource, namespace, name string) (T, error) {
	var zero T
	obj, err := s.store(resource).GetCached(ctx, namespace, name)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s/%s: unexpected %T", resource, namespace, name, obj)
	}
	return t, nil
}

func (o tokenObjects) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return getAs[*corev1.ServiceAccount](ctx, o.s, "serviceaccounts", namespace, name)
}

func (o tokenObjects) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return getAs[*corev1.Pod](ctx, o.s, "pods", namespace, name)
}

func (o tokenObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return getAs[*corev1.Secret](ctx, o.s, "secrets", namespace, name)
}

func (o tokenObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return getAs[*corev1.Node](ctx, o.s, "nodes", "", name)
}

// serviceAccountGetter serves the admission plugin.
type serviceAccountGetter struct{ s *Server }

func (g serviceAccountGetter) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return tokenObjects(g).ServiceAccount(ctx, namespace, name)
}
