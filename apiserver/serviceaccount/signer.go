package serviceaccount

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Config configures the issuing and the checking of service account
// tokens, as kube-apiserver's --service-account-* flags do.
type Config struct {
	// KeyFile is the PEM private key that signs tokens, kept under the
	// server's data directory; LoadOrCreateKey makes a P-256 key there if
	// the file is missing. Required. Every API server of a cluster must use
	// the same key.
	KeyFile string
	// Issuer is the "iss" claim of tokens, and the issuer accepted.
	// Default DefaultIssuer.
	Issuer string
	// Audiences are the API server's audiences (--api-audiences): the
	// audiences of tokens requested without any, and of which a token must
	// name one to authenticate to the API server. Default [Issuer].
	Audiences []string
	// MaxExpiration, if set, shortens longer requested lifetimes to it
	// (--service-account-max-token-expiration). It must be at least an
	// hour. Zero means no limit.
	MaxExpiration time.Duration
	// NoExtendExpiration stops the extension of the kubelet's 3607 s
	// pod-bound tokens to a year (--service-account-extend-token-expiration
	// =false). By default they are extended, as in Kubernetes.
	NoExtendExpiration bool
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Defaults fills in unset fields.
func (c *Config) Defaults() {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if len(c.Audiences) == 0 {
		c.Audiences = []string{c.Issuer}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.KeyFile == "" {
		errs = append(errs, errors.New("service account key file: required"))
	}
	if c.MaxExpiration != 0 && (c.MaxExpiration < time.Hour || c.MaxExpiration > MaxExpirationSeconds*time.Second) {
		errs = append(errs, fmt.Errorf("service account max token expiration %s: must be between 1 hour and 2^32 seconds", c.MaxExpiration))
	}
	for _, a := range c.Audiences {
		if a == "" {
			errs = append(errs, errors.New("service account audiences: empty audience"))
		}
	}
	return errors.Join(errs...)
}

// Signer issues service account tokens and checks their signatures.
type Signer struct {
	cfg Config
	key crypto.Signer
	kid string
}

// NewSigner loads (or creates) the signing key of cfg.
func NewSigner(cfg Config) (*Signer, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := LoadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	return newSigner(cfg, key)
}

func newSigner(cfg Config, key crypto.Signer) (*Signer, error) {
	kid, err := keyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	return &Signer{cfg: cfg, key: key, kid: kid}, nil
}

// Issuer returns the tokens' issuer.
func (s *Signer) Issuer() string { return s.cfg.Issuer }

// Audiences returns the API server's audiences.
func (s *Signer) Audiences() []string { return slices.Clone(s.cfg.Audiences) }

// PublicKey returns the key that verifies tokens.
func (s *Signer) PublicKey() crypto.PublicKey { return s.key.Public() }

// KeyID returns the "kid" header of the tokens.
func (s *Signer) KeyID() string { return s.kid }

// Sign sets the issuer of c and returns the signed token.
func (s *Signer) Sign(c *Claims) (string, error) {
	c.Issuer = s.cfg.Issuer
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	tok, err := sign(s.key, s.kid, payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// Request is a token request the API server has checked: the service
// account exists, the bound object exists with the UID asked for, and the
// lifetime is within the allowed range.
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	// Audiences of the token; empty means the API server's.
	Audiences []string
	// ExpirationSeconds is the lifetime asked for; zero means the default
	// (an hour).
	ExpirationSeconds int64
	Bound             Bound
}

// Issued is a token and what the TokenRequest reports of it.
type Issued struct {
	Token string
	// Audiences and ExpirationSeconds are the request's after defaults and
	// the lifetime limit; Shortened tells that the limit applied.
	Audiences         []string
	ExpirationSeconds int64
	Shortened         bool
	// ExpirationTimestamp is when the token expires as the client is told:
	// IssuedAt plus ExpirationSeconds (an extended token's exp is later).
	ExpirationTimestamp time.Time
	IssuedAt            time.Time
	Claims              *Claims
}

// Issue signs a token for r, as Kubernetes' TokenRequest does: default
// audiences and lifetime, lifetime cut to MaxExpiration, and the kubelet's
// 3607 s pod-bound tokens for the API server extended to a year with a
// warnafter claim.
func (s *Signer) Issue(r Request) (*Issued, error) {
	if r.ServiceAccount == nil {
		return nil, errors.New("issue token: no service account")
	}
	out := &Issued{Audiences: slices.Clone(r.Audiences), ExpirationSeconds: r.ExpirationSeconds}
	if len(out.Audiences) == 0 {
		out.Audiences = s.Audiences()
	}
	if out.ExpirationSeconds == 0 {
		out.ExpirationSeconds = DefaultExpirationSeconds
	}
	if limit := int64(s.cfg.MaxExpiration / time.Second); limit > 0 && out.ExpirationSeconds > limit {
		out.ExpirationSeconds = limit
		out.Shortened = true
	}
	exp, warnAfter := out.ExpirationSeconds, int64(0)
	if !s.cfg.NoExtendExpiration && r.Bound.Pod != nil && exp == WarnOnlyBoundTokenExpirationSeconds && s.apiAudiences(out.Audiences) {
		warnAfter, exp = exp, ExpirationExtensionSeconds
	}
	now := s.cfg.Now()
	out.IssuedAt = now.Truncate(time.Second)
	out.Claims = NewClaims(r.ServiceAccount, r.Bound, now, exp, warnAfter, out.Audiences)
	tok, err := s.Sign(out.Claims)
	if err != nil {
		return nil, err
	}
	out.Token = tok
	out.ExpirationTimestamp = out.IssuedAt.Add(time.Duration(out.ExpirationSeconds) * time.Second)
	return out, nil
}

// apiAudiences reports whether every one of auds is an audience of the API
// server.
func (s *Signer) apiAudiences(auds []string) bool {
	for _, a := range auds {
		if !slices.Contains(s.cfg.Audiences, a) {
			return false
		}
	}
	return true
}
