package bootstrap

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"berth/apiserver"
	"berth/join"
)

// SecretGetter reads a Secret; it returns an error for which
// apierrors.IsNotFound holds when there is none.
type SecretGetter interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// SecretGetterFunc adapts a function to SecretGetter.
type SecretGetterFunc func(ctx context.Context, namespace, name string) (*corev1.Secret, error)

// GetSecret calls f.
func (f SecretGetterFunc) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return f(ctx, namespace, name)
}

// Config configures the authenticator.
type Config struct {
	// Secrets reads bootstrap token Secrets. Required.
	Secrets SecretGetter
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger records why tokens are refused (at debug level). Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Secrets == nil {
		return errors.New("bootstrap token authenticator: no secret reader")
	}
	return nil
}

// Authenticator authenticates bootstrap tokens.
type Authenticator struct {
	cfg Config
}

var _ apiserver.TokenAuthenticator = (*Authenticator)(nil)

// New returns an authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Authenticator{cfg: cfg}, nil
}

// AuthenticateToken accepts a bootstrap token "<id>.<secret>". A token of
// another shape, or one whose Secret is missing, expired, not for
// authentication or holds another secret, is not known (ok false, no
// error), so that other authenticators may try it; only a failure to read
// the Secret is an error.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authnv1.UserInfo, bool, error) {
	t, err := join.ParseBootstrapToken(token)
	if err != nil {
		return nil, false, nil
	}
	name := join.SecretPrefix + t.ID
	s, err := a.cfg.Secrets.GetSecret(ctx, join.TokenNamespace, name)
	if apierrors.IsNotFound(err) {
		a.refuse(t.ID, "no secret "+join.TokenNamespace+"/"+name)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("bootstrap token %s: %w", t.ID, err)
	}
	groups, reason := a.check(s, t)
	if reason != "" {
		a.refuse(t.ID, reason)
		return nil, false, nil
	}
	return &authnv1.UserInfo{Username: join.UserPrefix + t.ID, Groups: groups}, true, nil
}

// check returns the groups of token t held by Secret s, or why s does not
// accept t.
func (a *Authenticator) check(s *corev1.Secret, t join.BootstrapToken) ([]string, string) {
	switch {
	case s.DeletionTimestamp != nil:
		return nil, "the secret is being deleted"
	case s.Type != join.SecretType:
		return nil, fmt.Sprintf("the secret has type %q, not %q", s.Type, join.SecretType)
	case subtle.ConstantTimeCompare(s.Data[join.KeyTokenSecret], []byte(t.Secret)) != 1:
		return nil, "wrong secret"
	case string(s.Data[join.KeyTokenID]) != t.ID:
		return nil, "the secret's token-id does not match its name"
	}
	if exp, ok := join.Expiration(s); ok && !a.cfg.Now().Before(exp) {
		return nil, "expired"
	}
	if string(s.Data[join.KeyUsageAuthentication]) != "true" {
		return nil, "not marked for authentication (" + join.KeyUsageAuthentication + ")"
	}
	groups := []string{join.GroupBootstrappers}
	if extra := strings.TrimSpace(string(s.Data[join.KeyExtraGroups])); extra != "" {
		for _, g := range strings.Split(extra, ",") {
			g = strings.TrimSpace(g)
			if !join.ValidExtraGroup(g) {
				return nil, fmt.Sprintf("invalid extra group %q", g)
			}
			if !contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups, ""
}

func (a *Authenticator) refuse(id, reason string) {
	a.cfg.Logger.Debug("bootstrap token refused", "token", id, "reason", reason)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
