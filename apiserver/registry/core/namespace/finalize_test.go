package namespace

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// fakeObjects holds one namespace and applies Modify to a copy of it.
type fakeObjects struct{ ns *corev1.Namespace }

var _ registry.Objects = (*fakeObjects)(nil)

func (f *fakeObjects) Get(context.Context, string, string) (runtime.Object, error) {
	return f.ns.DeepCopy(), nil
}

func (f *fakeObjects) Modify(_ context.Context, _, _ string, fn func(runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	out, err := fn(f.ns.DeepCopy())
	if err != nil {
		return nil, err
	}
	f.ns = out.(*corev1.Namespace)
	return out, nil
}

func (f *fakeObjects) Delete(context.Context, string, string, *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return nil, false, nil
}

func TestFinalizeSubresource(t *testing.T) {
	sub := Resource().Extra[0]
	if sub.Name != "finalize" || !slices.Equal(sub.Verbs, []string{"update"}) || sub.Kind.Kind != "Namespace" {
		t.Fatalf("subresource = %+v", sub)
	}
	stored := ns("team-a", "kubernetes", "example.com/cleanup")
	stored.Status.Phase = corev1.NamespaceTerminating
	objs := &fakeObjects{ns: stored}

	req := ns("team-a", "example.com/cleanup")
	req.Status.Phase = corev1.NamespaceActive
	out, err := sub.Update(context.Background(), objs, "", "team-a", req, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Namespace)
	if !slices.Equal(got.Spec.Finalizers, []corev1.FinalizerName{"example.com/cleanup"}) || got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("finalized namespace = %+v", got)
	}

	_, err = sub.Update(context.Background(), objs, "", "team-a", ns("team-a", "cleanup"), &metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("bad finalizer: err = %v", err)
	}
	_, err = sub.Update(context.Background(), objs, "", "team-b", ns("team-a"), &metav1.UpdateOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("name mismatch: err = %v", err)
	}
}

func TestDeleteHooks(t *testing.T) {
	r := Resource()
	n := ns("a", "kubernetes")
	n.Status.Phase = corev1.NamespaceActive
	if !r.Finalizing(n) {
		t.Error("namespace with spec.finalizers not finalizing")
	}
	r.PrepareForDelete(n)
	if n.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %q", n.Status.Phase)
	}
	if r.Finalizing(ns("a")) {
		t.Error("namespace without spec.finalizers finalizing")
	}
}
