package join

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bootstrap tokens as kubeadm and Kubernetes' bootstrap token authenticator
// define them (k8s.io/cluster-bootstrap): a Secret named
// "bootstrap-token-<id>" of type bootstrap.kubernetes.io/token in
// kube-system, whose data holds the token's parts and what it may be used
// for.
const (
	// TokenNamespace is where bootstrap token Secrets live.
	TokenNamespace = "kube-system"
	// SecretPrefix starts the name of a bootstrap token Secret.
	SecretPrefix = "bootstrap-token-"
	// SecretType is the type of a bootstrap token Secret.
	SecretType = corev1.SecretTypeBootstrapToken

	// Keys of a bootstrap token Secret's data.
	KeyTokenID     = "token-id"
	KeyTokenSecret = "token-secret"
	// KeyExpiration holds an RFC 3339 time after which the token is
	// refused (and may be deleted).
	KeyExpiration  = "expiration"
	KeyDescription = "description"
	// KeyUsageAuthentication set to "true" lets the token authenticate to
	// the API server as a bearer token.
	KeyUsageAuthentication = "usage-bootstrap-authentication"
	// KeyUsageSigning set to "true" lets the token sign the cluster-info
	// ConfigMap (kubeadm's JWS discovery; berth pins the CA instead).
	KeyUsageSigning = "usage-bootstrap-signing"
	// KeyExtraGroups is a comma-separated list of groups, besides
	// system:bootstrappers, that the token's user belongs to.
	KeyExtraGroups = "auth-extra-groups"

	// UserPrefix starts the user name of a bootstrap token:
	// "system:bootstrap:<id>".
	UserPrefix = "system:bootstrap:"
	// GroupBootstrappers is the group of every bootstrap token user.
	GroupBootstrappers = "system:bootstrappers"
	// GroupDefaultNodeToken is the extra group of the tokens berth makes
	// for joining nodes (kubeadm's is
	// system:bootstrappers:kubeadm:default-node-token).
	GroupDefaultNodeToken = "system:bootstrappers:berth:default-node-token"

	// DefaultTokenTTL is how long a token made by `berth token create`
	// lasts unless told otherwise (as kubeadm).
	DefaultTokenTTL = 24 * time.Hour
)

// The shapes of a bootstrap token's parts: "[a-z0-9]{6}.[a-z0-9]{16}".
var (
	tokenRE      = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	tokenIDRE    = regexp.MustCompile(`^[a-z0-9]{6}$`)
	extraGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
	joinTokenRE  = regexp.MustCompile(`^K10([0-9a-f]{64})::(.*)$`)
)

// tokenAlphabet is what token ids and secrets are made of.
const tokenAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// BootstrapToken is a bootstrap token: "<id>.<secret>". The id is public
// (it names the Secret); the secret is what proves the holder.
type BootstrapToken struct {
	ID     string
	Secret string
}

// String returns the token in its "<id>.<secret>" form.
func (t BootstrapToken) String() string { return t.ID + "." + t.Secret }

// ParseBootstrapToken parses "<id>.<secret>".
func ParseBootstrapToken(s string) (BootstrapToken, error) {
	m := tokenRE.FindStringSubmatch(s)
	if m == nil {
		return BootstrapToken{}, fmt.Errorf("a bootstrap token must look like [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return BootstrapToken{ID: m[1], Secret: m[2]}, nil
}

// NewBootstrapToken returns a random token.
func NewBootstrapToken() (BootstrapToken, error) {
	id, err := randomString(6)
	if err != nil {
		return BootstrapToken{}, err
	}
	secret, err := randomString(16)
	if err != nil {
		return BootstrapToken{}, err
	}
	return BootstrapToken{ID: id, Secret: secret}, nil
}

// ValidTokenID reports whether id has the shape of a token id.
func ValidTokenID(id string) bool { return tokenIDRE.MatchString(id) }

// ValidExtraGroup reports whether g may be a bootstrap token's extra
// group: "system:bootstrappers:..." as Kubernetes requires.
func ValidExtraGroup(g string) bool { return extraGroupRE.MatchString(g) }

// randomString returns n characters of [a-z0-9] from crypto/rand, without
// modulo bias.
func randomString(n int) (string, error) {
	max := big.NewInt(int64(len(tokenAlphabet)))
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random token: %w", err)
		}
		b[i] = tokenAlphabet[v.Int64()]
	}
	return string(b), nil
}

// JoinToken is what a user copies to a new node: the bootstrap token and
// the hash of the cluster CA's public key, so that the node can verify the
// server before it sends the token (as kubeadm's
// --discovery-token-ca-cert-hash does). Its text form follows k3s's layout:
//
//	K10<sha256 of the CA certificate's SubjectPublicKeyInfo, 64 hex digits>::<id>.<secret>
type JoinToken struct {
	// CAHash is the hex SHA-256 of the CA certificate's DER
	// SubjectPublicKeyInfo (kubeadm's "sha256:<hash>" without the prefix).
	CAHash string
	Token  BootstrapToken
}

// String returns the token's text form.
func (t JoinToken) String() string { return "K10" + t.CAHash + "::" + t.Token.String() }

// ErrNoCAHash is returned for a bare bootstrap token given where a join
// token is needed: without the CA hash the server cannot be verified.
var ErrNoCAHash = errors.New("the token has no CA hash: use the whole token printed by `berth token create` (K10<hash>::<id>.<secret>)")

// ParseJoinToken parses "K10<hash>::<id>.<secret>". Surrounding white space
// (a pasted newline) is ignored.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	if tokenRE.MatchString(s) {
		return JoinToken{}, ErrNoCAHash
	}
	m := joinTokenRE.FindStringSubmatch(s)
	if m == nil {
		return JoinToken{}, errors.New("invalid join token: want K10<64 hex digits>::<id>.<secret>, as printed by `berth token create`")
	}
	bt, err := ParseBootstrapToken(m[2])
	if err != nil {
		return JoinToken{}, fmt.Errorf("invalid join token: %w", err)
	}
	return JoinToken{CAHash: m[1], Token: bt}, nil
}

// CAHash returns the hex SHA-256 of a certificate's SubjectPublicKeyInfo,
// the pin a join token carries.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// TokenSecret returns the Secret that makes t a bootstrap token for joining
// nodes: valid for authentication (and signing) until now+ttl (no
// expiration when ttl is 0), in the group GroupDefaultNodeToken.
func TokenSecret(t BootstrapToken, description string, ttl time.Duration, now time.Time) *corev1.Secret {
	data := map[string][]byte{
		KeyTokenID:             []byte(t.ID),
		KeyTokenSecret:         []byte(t.Secret),
		KeyUsageAuthentication: []byte("true"),
		KeyUsageSigning:        []byte("true"),
		KeyExtraGroups:         []byte(GroupDefaultNodeToken),
	}
	if description != "" {
		data[KeyDescription] = []byte(description)
	}
	if ttl > 0 {
		data[KeyExpiration] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretPrefix + t.ID, Namespace: TokenNamespace},
		Type:       SecretType,
		Data:       data,
	}
}

// Expiration returns a bootstrap token Secret's expiration time, and false
// when it has none. A malformed expiration counts as already expired, as
// Kubernetes treats it.
func Expiration(s *corev1.Secret) (time.Time, bool) {
	v, ok := s.Data[KeyExpiration]
	if !ok || len(v) == 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(v))
	if err != nil {
		return time.Time{}, true
	}
	return t, true
}
