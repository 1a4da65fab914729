package bootstrap

import (
	"context"
	"errors"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"

	"berth/apiserver"
	"berth/apiserver/request"
	"berth/join"
)

// Authorizer lets users of the group system:bootstrappers do only what
// Kubernetes' default roles let them: create and follow
// CertificateSigningRequests (system:node-bootstrapper) and read discovery,
// version and health (system:discovery, system:public-info-viewer). Every
// other user is decided by Next. Without it, a bootstrap token would be as
// good as any other credential while berth lets every authenticated user
// do everything.
type Authorizer struct {
	// Next decides for users that are not bootstrappers. Required.
	Next apiserver.Authorizer
}

var _ apiserver.Authorizer = Authorizer{}

// Authorize implements apiserver.Authorizer.
func (a Authorizer) Authorize(ctx context.Context, attrs apiserver.Attributes) (bool, string, error) {
	if attrs.User == nil || !IsBootstrapper(attrs.User) {
		if a.Next == nil {
			return false, "", errors.New("bootstrap authorizer: no next authorizer")
		}
		return a.Next.Authorize(ctx, attrs)
	}
	if bootstrapperMay(attrs.Info) {
		return true, "", nil
	}
	return false, "a bootstrap token may only request node certificates", nil
}

// IsBootstrapper reports whether u is in the group system:bootstrappers.
func IsBootstrapper(u *authnv1.UserInfo) bool {
	for _, g := range u.Groups {
		if g == join.GroupBootstrappers {
			return true
		}
	}
	return false
}

// bootstrapperMay reports whether a bootstrapper may make the request.
func bootstrapperMay(info *request.Info) bool {
	if info == nil {
		return false
	}
	if !info.IsResourceRequest {
		return info.Verb == "get" && discoveryPath(info.Path)
	}
	if info.APIGroup != "certificates.k8s.io" || info.Resource != "certificatesigningrequests" || info.Subresource != "" {
		return false
	}
	switch info.Verb {
	case "create", "get", "list", "watch":
		return true
	}
	return false
}

// discoveryPath reports whether p is one of the paths Kubernetes'
// system:discovery and system:public-info-viewer roles open to everyone.
func discoveryPath(p string) bool {
	switch p {
	case "/api", "/apis", "/version", "/version/", "/healthz", "/livez", "/readyz", "/openapi":
		return true
	}
	for _, prefix := range []string{"/api/", "/apis/", "/openapi/", "/healthz/", "/livez/", "/readyz/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
