package join

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseJoinToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		want     JoinToken
		err      string
	}{
		{"valid", "K10" + hash + "::abcdef.0123456789abcdef", JoinToken{CAHash: hash, Token: BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef"}}, ""},
		{"pasted with a newline", "  K10" + hash + "::abcdef.0123456789abcdef\n", JoinToken{CAHash: hash, Token: BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef"}}, ""},
		{"bare bootstrap token", "abcdef.0123456789abcdef", JoinToken{}, "has no CA hash"},
		{"short hash", "K10abcd::abcdef.0123456789abcdef", JoinToken{}, "invalid join token"},
		{"upper-case hash", "K10" + strings.ToUpper(hash) + "::abcdef.0123456789abcdef", JoinToken{}, "invalid join token"},
		{"upper-case token", "K10" + hash + "::ABCDEF.0123456789abcdef", JoinToken{}, "[a-z0-9]{6}.[a-z0-9]{16}"},
		{"short secret", "K10" + hash + "::abcdef.0123", JoinToken{}, "[a-z0-9]{6}.[a-z0-9]{16}"},
		{"k3s user:password", "K10" + hash + "::server:secret", JoinToken{}, "[a-z0-9]{6}.[a-z0-9]{16}"},
		{"empty", "", JoinToken{}, "invalid join token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJoinToken(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != strings.TrimSpace(tc.in) {
				t.Errorf("String() = %q, want %q", s, strings.TrimSpace(tc.in))
			}
		})
	}
	if _, err := ParseJoinToken("abcdef.0123456789abcdef"); !errors.Is(err, ErrNoCAHash) {
		t.Errorf("a bare token gives %v, want ErrNoCAHash", err)
	}
}

func TestNewBootstrapToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		tok, err := NewBootstrapToken()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBootstrapToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("token %q does not parse back: %v %+v", tok, err, back)
		}
		if seen[tok.String()] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok.String()] = true
	}
}

// selfSigned returns a CA certificate with a new key.
func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func TestCAHashPinsThePublicKey(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	sum := sha256.Sum256(a.RawSubjectPublicKeyInfo)
	if got, want := CAHash(a), hex.EncodeToString(sum[:]); got != want || len(got) != 64 {
		t.Fatalf("CAHash = %q, want %q", got, want)
	}
	if CAHash(a) == CAHash(b) {
		t.Fatal("two keys hash alike")
	}
	// Only the pinned certificate of a bundle is kept.
	bundle := append(pemOf(b), pemOf(a)...)
	got, err := pinnedCert(bundle, CAHash(a))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(pemOf(a)) {
		t.Errorf("pinned certificate is not a's")
	}
	if _, err := pinnedCert(pemOf(b), CAHash(a)); !errors.Is(err, ErrCAMismatch) || err.Error() != "the server's CA does not match the token" {
		t.Errorf("mismatch gives %v", err)
	}
	if _, err := pinnedCert([]byte("garbage"), CAHash(a)); !errors.Is(err, ErrCAMismatch) {
		t.Errorf("garbage gives %v", err)
	}
}

func TestTokenSecret(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef"}
	s := TokenSecret(tok, "for node-2", 24*time.Hour, now)
	if s.Name != "bootstrap-token-abcdef" || s.Namespace != "kube-system" || s.Type != "bootstrap.kubernetes.io/token" {
		t.Fatalf("secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	want := map[string]string{
		"token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "2025-01-03T03:04:05Z",
		"description": "for node-2", "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
		"auth-extra-groups": "system:bootstrappers:berth:default-node-token",
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, s.Data[k], v)
		}
	}
	if len(s.Data) != len(want) {
		t.Errorf("data has %d keys, want %d", len(s.Data), len(want))
	}
	if exp, ok := Expiration(s); !ok || !exp.Equal(now.Add(24*time.Hour)) {
		t.Errorf("Expiration = %v %v", exp, ok)
	}
	forever := TokenSecret(tok, "", 0, now)
	if _, ok := Expiration(forever); ok {
		t.Error("a token without TTL expires")
	}
	if _, ok := forever.Data["description"]; ok {
		t.Error("empty description stored")
	}
	forever.Data["expiration"] = []byte("tomorrow")
	if exp, ok := Expiration(forever); !ok || !exp.IsZero() {
		t.Errorf("a malformed expiration must count as expired: %v %v", exp, ok)
	}
}

func TestExtraGroups(t *testing.T) {
	for g, ok := range map[string]bool{
		"system:bootstrappers:berth:default-node-token": true,
		"system:bootstrappers:x":                        true,
		"system:masters":                                false,
		"system:bootstrappers:":                         false,
		"system:bootstrappers:Upper":                    false,
	} {
		if ValidExtraGroup(g) != ok {
			t.Errorf("ValidExtraGroup(%q) = %v", g, !ok)
		}
	}
}
