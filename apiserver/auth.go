package apiserver

import (
	"context"
	"net/http"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"

	"berth/apiserver/request"
)

// TokenAuthenticator authenticates bearer tokens (service account tokens,
// bootstrap tokens). ok is false for a token it does not know.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (user *authnv1.UserInfo, ok bool, err error)
}

// Authorizer decides whether a user may make a request.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// Attributes are what an authorizer decides on.
type Attributes struct {
	User *authnv1.UserInfo
	Info *request.Info
}

// AllowAuthenticated lets every authenticated user do everything. It is
// the authorizer until role-based access control exists.
type AllowAuthenticated struct{}

// Authorize allows any request with a user.
func (AllowAuthenticated) Authorize(_ context.Context, a Attributes) (bool, string, error) {
	return a.User != nil, "", nil
}

var _ Authorizer = AllowAuthenticated{}

// Groups every authenticated user belongs to.
const (
	GroupAuthenticated = "system:authenticated"
	GroupMasters       = "system:masters"
)

// authenticate finds the user of a request: a client certificate signed by
// the cluster CA (CN is the user, O the groups), or a bearer token.
func (s *Server) authenticate(r *http.Request) (*authnv1.UserInfo, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		groups := append([]string{}, cert.Subject.Organization...)
		return &authnv1.UserInfo{Username: cert.Subject.CommonName, Groups: append(groups, GroupAuthenticated)}, nil
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		for _, a := range s.cfg.Tokens {
			u, ok, err := a.AuthenticateToken(r.Context(), token)
			if err != nil {
				return nil, err
			}
			if ok {
				u.Groups = append(u.Groups, GroupAuthenticated)
				return u, nil
			}
		}
	}
	return nil, nil
}

// publicPaths answer without credentials, as Kubernetes lets anyone read
// health and version.
func publicPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version":
		return true
	}
	return strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/")
}
