package serviceaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects reads the objects a token names. A missing object is an error
// (apierrors.IsNotFound). The API server backs it with its stores; a
// recently written object may be read a little late, as Kubernetes' own
// authenticator reads from informer caches.
type Objects interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// Authenticator authenticates bearer tokens the Signer issued, as
// Kubernetes' service account token authenticator does. Tokens of another
// issuer (or that are not JSON web tokens) are left to other
// authenticators; tokens of this issuer that do not check out are errors.
type Authenticator struct {
	signer  *Signer
	objects Objects
}

// NewAuthenticator returns an authenticator of the tokens s signs, that
// checks the objects they name through objects.
func NewAuthenticator(s *Signer, objects Objects) *Authenticator {
	return &Authenticator{signer: s, objects: objects}
}

// AuthenticateToken returns the service account user of a valid token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authnv1.UserInfo, bool, error) {
	_, payload, _, _, err := parts(token)
	if err != nil {
		return nil, false, nil
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &unverified) != nil || unverified.Issuer != a.signer.Issuer() {
		return nil, false, nil
	}
	c, err := a.signer.Verify(token)
	if err != nil {
		return nil, false, err
	}
	u, err := a.validate(ctx, c)
	if err != nil {
		return nil, false, err
	}
	return u, true, nil
}

// Verify checks a token's signature, issuer, audiences (one must be the
// API server's) and times, and returns its claims. It does not look at
// the objects the token names.
func (s *Signer) Verify(token string) (*Claims, error) {
	payload, err := verify(s.key.Public(), token)
	if err != nil {
		return nil, err
	}
	c := &Claims{}
	if err := json.Unmarshal(payload, c); err != nil {
		return nil, fmt.Errorf("service account token claims: %w", err)
	}
	if c.Issuer != s.cfg.Issuer {
		return nil, fmt.Errorf("token issuer %q is invalid", c.Issuer)
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(s.cfg.Audiences, a) }) {
		return nil, fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(c.Audience), s.cfg.Audiences)
	}
	now := s.cfg.Now()
	switch {
	case c.Expiry == 0:
		return nil, errors.New("service account token has no expiry")
	case now.Add(-leeway).After(time.Unix(c.Expiry, 0)):
		return nil, errors.New("service account token has expired")
	case c.NotBefore != 0 && now.Add(leeway).Before(time.Unix(c.NotBefore, 0)):
		return nil, errors.New("service account token is not valid yet")
	case c.IssuedAt != 0 && now.Add(leeway).Before(time.Unix(c.IssuedAt, 0)):
		return nil, errors.New("service account token is issued in the future")
	case c.Kubernetes == nil || c.Kubernetes.Namespace == "" || c.Kubernetes.ServiceAccount.Name == "":
		return nil, errors.New("service account token names no service account")
	case c.Subject != Username(c.Kubernetes.Namespace, c.Kubernetes.ServiceAccount.Name):
		return nil, fmt.Errorf("service account token subject %q does not match its service account", c.Subject)
	}
	return c, nil
}

// errInvalidated is the answer for tokens whose bound object is gone.
var errInvalidated = errors.New("service account token has been invalidated")

// validate checks that the service account and the bound object still
// exist, with the UIDs of the claims, and are not being deleted (for
// longer than the leeway); it returns the user.
func (a *Authenticator) validate(ctx context.Context, c *Claims) (*authnv1.UserInfo, error) {
	k := c.Kubernetes
	ns := k.Namespace
	deletedBefore := a.signer.cfg.Now().Add(-leeway)
	gone := func(m *metav1.ObjectMeta) bool {
		return m.DeletionTimestamp != nil && m.DeletionTimestamp.Time.Before(deletedBefore)
	}
	sa, err := a.objects.ServiceAccount(ctx, ns, k.ServiceAccount.Name)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s: %w", ns, k.ServiceAccount.Name, err)
	}
	if gone(&sa.ObjectMeta) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, sa.Name)
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.ServiceAccount.UID)
	}
	u := &authnv1.UserInfo{
		Username: Username(ns, sa.Name),
		UID:      k.ServiceAccount.UID,
		Groups:   Groups(ns),
	}
	extra := map[string]authnv1.ExtraValue{}
	if ref := k.Secret; ref != nil {
		s, err := a.objects.Secret(ctx, ns, ref.Name)
		if err != nil || gone(&s.ObjectMeta) {
			return nil, errInvalidated
		}
		if string(s.UID) != ref.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match claim (%s)", s.UID, ref.UID)
		}
	}
	if ref := k.Pod; ref != nil {
		p, err := a.objects.Pod(ctx, ns, ref.Name)
		if err != nil || gone(&p.ObjectMeta) {
			return nil, errInvalidated
		}
		if string(p.UID) != ref.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match claim (%s)", p.UID, ref.UID)
		}
		extra[PodNameKey] = authnv1.ExtraValue{ref.Name}
		extra[PodUIDKey] = authnv1.ExtraValue{ref.UID}
	}
	if ref := k.Node; ref != nil {
		// A pod-bound token only reports its node; a node-bound one is
		// valid while the node exists.
		if k.Pod == nil {
			n, err := a.objects.Node(ctx, ref.Name)
			if err != nil || gone(&n.ObjectMeta) {
				return nil, errInvalidated
			}
			if string(n.UID) != ref.UID {
				return nil, fmt.Errorf("node UID (%s) does not match claim (%s)", n.UID, ref.UID)
			}
		}
		extra[NodeNameKey] = authnv1.ExtraValue{ref.Name}
		if ref.UID != "" {
			extra[NodeUIDKey] = authnv1.ExtraValue{ref.UID}
		}
	}
	if id := CredentialID(c.ID); id != "" {
		extra[CredentialIDKey] = authnv1.ExtraValue{id}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u, nil
}
