package serviceaccount

import (
	"encoding/json"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Names and lifetimes shared with Kubernetes.
const (
	// DefaultIssuer is the issuer (and API audience) of a cluster whose
	// domain is cluster.local, as kubeadm and k3s configure it.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

	// UsernamePrefix starts the user name of every service account.
	UsernamePrefix = "system:serviceaccount:"
	// AllServiceAccountsGroup holds every service account.
	AllServiceAccountsGroup = "system:serviceaccounts"
	// GroupPrefix starts the group of a namespace's service accounts.
	GroupPrefix = "system:serviceaccounts:"

	// Keys of the user's extra information for tokens bound to a pod or a
	// node, and for every token with an ID.
	PodNameKey      = "authentication.kubernetes.io/pod-name"
	PodUIDKey       = "authentication.kubernetes.io/pod-uid"
	NodeNameKey     = "authentication.kubernetes.io/node-name"
	NodeUIDKey      = "authentication.kubernetes.io/node-uid"
	CredentialIDKey = "authentication.kubernetes.io/credential-id"

	// WarnOnlyBoundTokenExpirationSeconds is the lifetime the kubelet asks
	// for projected tokens (3607 s). Such pod-bound tokens for the API
	// server are valid for ExpirationExtensionSeconds instead (use after
	// the requested lifetime is only noted), so that clients that do not
	// reload tokens keep working.
	WarnOnlyBoundTokenExpirationSeconds = 60*60 + 7
	// ExpirationExtensionSeconds is the lifetime of such tokens: a year.
	ExpirationExtensionSeconds = 24 * 365 * 60 * 60

	// DefaultExpirationSeconds is the lifetime of a TokenRequest that
	// names none, MinExpirationSeconds and MaxExpirationSeconds the range
	// a request may ask for.
	DefaultExpirationSeconds = 60 * 60
	MinExpirationSeconds     = 10 * 60
	MaxExpirationSeconds     = 1 << 32

	// leeway is the clock skew tolerated on exp, nbf and iat, and how long
	// a deleted object's tokens keep working (go-jose's DefaultLeeway).
	leeway = time.Minute
)

// Claims are the claims of a service account token. Fields are in the
// order Kubernetes' tokens list them (sorted by name).
type Claims struct {
	Audience   Audience       `json:"aud,omitempty"`
	Expiry     int64          `json:"exp,omitempty"`
	IssuedAt   int64          `json:"iat,omitempty"`
	Issuer     string         `json:"iss,omitempty"`
	ID         string         `json:"jti,omitempty"`
	Kubernetes *PrivateClaims `json:"kubernetes.io,omitempty"`
	NotBefore  int64          `json:"nbf,omitempty"`
	Subject    string         `json:"sub,omitempty"`
}

// PrivateClaims are the "kubernetes.io" claim: the service account and what
// the token is bound to. A token bound to a pod also names the pod's node.
type PrivateClaims struct {
	Namespace      string `json:"namespace,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	ServiceAccount Ref    `json:"serviceaccount"`
	// WarnAfter is when an extended token outlived the lifetime asked for
	// (seconds since the epoch).
	WarnAfter int64 `json:"warnafter,omitempty"`
}

// Ref names an object by name and UID.
type Ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Audience is the "aud" claim: always written as an array, read from an
// array or a single string (RFC 7519 allows both).
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud: want a string or an array of strings")
	}
	*a = many
	return nil
}

// Bound is the object a token is bound to: a pod (with the node it runs
// on, which may be a stub with only a name when the node is gone), a
// secret, or a node. Nil fields are unset.
type Bound struct {
	Pod    *corev1.Pod
	Node   *corev1.Node
	Secret *corev1.Secret
}

// NewClaims returns the claims of a token for sa, bound to b, valid from
// now for expirationSeconds, for audiences; warnAfterSeconds, if not zero,
// sets kubernetes.io/warnafter that many seconds after now. The issuer is
// left for the Signer. Every token gets a unique ID (jti).
func NewClaims(sa *corev1.ServiceAccount, b Bound, now time.Time, expirationSeconds, warnAfterSeconds int64, audiences []string) *Claims {
	c := &Claims{
		Audience:  append(Audience(nil), audiences...),
		Expiry:    now.Add(time.Duration(expirationSeconds) * time.Second).Unix(),
		IssuedAt:  now.Unix(),
		ID:        string(uuid.NewUUID()),
		NotBefore: now.Unix(),
		Subject:   Username(sa.Namespace, sa.Name),
		Kubernetes: &PrivateClaims{
			Namespace:      sa.Namespace,
			ServiceAccount: Ref{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	k := c.Kubernetes
	switch {
	case b.Pod != nil:
		k.Pod = &Ref{Name: b.Pod.Name, UID: string(b.Pod.UID)}
		if b.Node != nil {
			k.Node = &Ref{Name: b.Node.Name, UID: string(b.Node.UID)}
		}
	case b.Secret != nil:
		k.Secret = &Ref{Name: b.Secret.Name, UID: string(b.Secret.UID)}
	case b.Node != nil:
		k.Node = &Ref{Name: b.Node.Name, UID: string(b.Node.UID)}
	}
	if warnAfterSeconds != 0 {
		k.WarnAfter = now.Add(time.Duration(warnAfterSeconds) * time.Second).Unix()
	}
	return c
}

// Username returns the user name of a service account.
func Username(namespace, name string) string {
	return UsernamePrefix + namespace + ":" + name
}

// Groups returns the groups of a service account of namespace.
func Groups(namespace string) []string {
	return []string{AllServiceAccountsGroup, GroupPrefix + namespace}
}

// CredentialID names a token in the user's extra information, from its ID.
func CredentialID(jti string) string {
	if jti == "" {
		return ""
	}
	return "JTI=" + jti
}
