package serviceaccount

import (
	"context"
	"fmt"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/request"
	satoken "berth/apiserver/serviceaccount"
)

// TokenIssuer signs tokens for checked requests; *satoken.Signer is one.
type TokenIssuer interface {
	Issue(r satoken.Request) (*satoken.Issued, error)
}

// BoundObjects reads the objects a token may be bound to. A missing object
// is an error for which apierrors.IsNotFound holds.
type BoundObjects interface {
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

var tokenRequestKind = authnv1.SchemeGroupVersion.WithKind("TokenRequest")

// Token returns the serviceaccounts/token subresource: a POST of an
// authentication.k8s.io/v1 TokenRequest returns it with a signed token in
// status, as Kubernetes' TokenRequest API does (`kubectl create token`,
// the kubelet's projected service account tokens).
func Token(issuer TokenIssuer, bound BoundObjects) registry.Subresource {
	return registry.Subresource{
		Name:  "token",
		Kind:  tokenRequestKind,
		Verbs: []string{"create"},
		New:   func() runtime.Object { return &authnv1.TokenRequest{} },
		Create: func(ctx context.Context, objs registry.Objects, namespace, name string, body runtime.Object, _ *metav1.CreateOptions) (runtime.Object, error) {
			return createToken(ctx, issuer, bound, objs, namespace, name, body.(*authnv1.TokenRequest))
		},
	}
}

func createToken(ctx context.Context, issuer TokenIssuer, bound BoundObjects, objs registry.Objects, namespace, name string, req *authnv1.TokenRequest) (runtime.Object, error) {
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	obj, err := objs.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, fmt.Errorf("token for %s/%s: unexpected %T", namespace, name, obj)
	}
	out := req.DeepCopy()
	out.Name, out.Namespace = sa.Name, sa.Namespace
	out.Status = authnv1.TokenRequestStatus{}
	if out.Spec.ExpirationSeconds == nil {
		seconds := int64(satoken.DefaultExpirationSeconds)
		out.Spec.ExpirationSeconds = &seconds
	}
	if errs := validateTokenRequest(out); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), "", errs)
	}
	var b satoken.Bound
	if ref := out.Spec.BoundObjectRef; ref != nil {
		if b, err = boundObject(ctx, bound, namespace, name, ref); err != nil {
			return nil, err
		}
	}
	issued, err := issuer.Issue(satoken.Request{
		ServiceAccount:    sa,
		Audiences:         out.Spec.Audiences,
		ExpirationSeconds: *out.Spec.ExpirationSeconds,
		Bound:             b,
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	if issued.Shortened {
		request.AddWarning(ctx, fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", *out.Spec.ExpirationSeconds, issued.ExpirationSeconds))
	}
	out.CreationTimestamp = metav1.NewTime(issued.IssuedAt)
	out.Spec.Audiences = issued.Audiences
	out.Spec.ExpirationSeconds = &issued.ExpirationSeconds
	out.Status = authnv1.TokenRequestStatus{
		Token:               issued.Token,
		ExpirationTimestamp: metav1.NewTime(issued.ExpirationTimestamp),
	}
	return out, nil
}

// validateTokenRequest checks the lifetime asked for, as Kubernetes does.
func validateTokenRequest(tr *authnv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	switch s := *tr.Spec.ExpirationSeconds; {
	case s < satoken.MinExpirationSeconds:
		errs = append(errs, field.Invalid(p, s, "may not specify a duration less than 10 minutes"))
	case s > satoken.MaxExpirationSeconds:
		errs = append(errs, field.Invalid(p, s, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

// boundObject finds the object a token is to be bound to: a pod running
// as the service account (with its node, if it has one), a secret, or a
// node, with the UID asked for if any.
func boundObject(ctx context.Context, objs BoundObjects, namespace, saName string, ref *authnv1.BoundObjectReference) (satoken.Bound, error) {
	var (
		b   satoken.Bound
		uid types.UID
	)
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		pod, err := objs.Pod(ctx, namespace, ref.Name)
		if err != nil {
			return b, err
		}
		if pod.Spec.ServiceAccountName != saName {
			return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		b.Pod, uid = pod, pod.UID
		if pod.Spec.NodeName != "" {
			node, err := objs.Node(ctx, pod.Spec.NodeName)
			switch {
			case apierrors.IsNotFound(err):
				// The token still names the node the pod is assigned to.
				b.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
			case err != nil:
				return b, apierrors.NewInternalError(err)
			default:
				b.Node = node
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		node, err := objs.Node(ctx, ref.Name)
		if err != nil {
			return b, err
		}
		b.Node, uid = node, node.UID
	case gvk.Group == "" && gvk.Kind == "Secret":
		secret, err := objs.Secret(ctx, namespace, ref.Name)
		if err != nil {
			return b, err
		}
		b.Secret, uid = secret, secret.UID
	default:
		return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && uid != ref.UID {
		return b, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return b, nil
}
