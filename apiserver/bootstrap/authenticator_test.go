package bootstrap

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/join"
)

// fakeSecrets serves Secrets from a map, or fails with err.
type fakeSecrets struct {
	secrets map[string]*corev1.Secret // by namespace/name
	err     error
	reads   int
}

func (f *fakeSecrets) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func tokenSecret(mod func(*corev1.Secret)) *corev1.Secret {
	s := join.TokenSecret(join.BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef"}, "", time.Hour, testNow)
	if mod != nil {
		mod(s)
	}
	return s
}

func TestAuthenticateToken(t *testing.T) {
	const good = "abcdef.0123456789abcdef"
	tests := []struct {
		name   string
		secret *corev1.Secret
		token  string
		now    time.Time
		user   string
		groups []string
	}{
		{name: "valid", secret: tokenSecret(nil), token: good, user: "system:bootstrap:abcdef",
			groups: []string{"system:bootstrappers", "system:bootstrappers:berth:default-node-token"}},
		{name: "wrong secret", secret: tokenSecret(nil), token: "abcdef.0123456789abcdee"},
		{name: "no such token", secret: tokenSecret(nil), token: "zzzzzz.0123456789abcdef"},
		{name: "not a bootstrap token", secret: tokenSecret(nil), token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
		{name: "expired", secret: tokenSecret(nil), token: good, now: testNow.Add(time.Hour)},
		{name: "just before expiry", secret: tokenSecret(nil), token: good, now: testNow.Add(time.Hour - time.Second), user: "system:bootstrap:abcdef",
			groups: []string{"system:bootstrappers", "system:bootstrappers:berth:default-node-token"}},
		{name: "malformed expiration", secret: tokenSecret(func(s *corev1.Secret) { s.Data["expiration"] = []byte("soon") }), token: good},
		{name: "no expiration", secret: tokenSecret(func(s *corev1.Secret) { delete(s.Data, "expiration") }), token: good, now: testNow.Add(1000 * time.Hour),
			user: "system:bootstrap:abcdef", groups: []string{"system:bootstrappers", "system:bootstrappers:berth:default-node-token"}},
		{name: "not for authentication", secret: tokenSecret(func(s *corev1.Secret) { s.Data["usage-bootstrap-authentication"] = []byte("false") }), token: good},
		{name: "usage missing", secret: tokenSecret(func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") }), token: good},
		{name: "wrong type", secret: tokenSecret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }), token: good},
		{name: "being deleted", secret: tokenSecret(func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: testNow} }), token: good},
		{name: "token-id differs from the name", secret: tokenSecret(func(s *corev1.Secret) { s.Data["token-id"] = []byte("ghijkl") }), token: good},
		{name: "invalid extra group", secret: tokenSecret(func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("system:masters") }), token: good},
		{name: "several extra groups", secret: tokenSecret(func(s *corev1.Secret) {
			s.Data["auth-extra-groups"] = []byte("system:bootstrappers:a, system:bootstrappers:b,system:bootstrappers:a")
		}), token: good, user: "system:bootstrap:abcdef", groups: []string{"system:bootstrappers", "system:bootstrappers:a", "system:bootstrappers:b"}},
		{name: "no extra groups", secret: tokenSecret(func(s *corev1.Secret) { delete(s.Data, "auth-extra-groups") }), token: good,
			user: "system:bootstrap:abcdef", groups: []string{"system:bootstrappers"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			f := &fakeSecrets{secrets: map[string]*corev1.Secret{"kube-system/" + tc.secret.Name: tc.secret}}
			a, err := New(Config{Secrets: f, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			u, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if tc.user == "" {
				if ok || u != nil {
					t.Fatalf("token accepted as %+v", u)
				}
				return
			}
			if !ok || u == nil {
				t.Fatal("token refused")
			}
			if u.Username != tc.user || !slices.Equal(u.Groups, tc.groups) {
				t.Errorf("user %q groups %q, want %q %q", u.Username, u.Groups, tc.user, tc.groups)
			}
		})
	}
}

func TestAuthenticateTokenReadError(t *testing.T) {
	f := &fakeSecrets{err: errors.New("etcd is down")}
	a, err := New(Config{Secrets: f})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.AuthenticateToken(context.Background(), "abcdef.0123456789abcdef"); ok || err == nil {
		t.Fatalf("a failed read gave ok=%v err=%v, want an error", ok, err)
	}
	// Tokens of another shape are not even looked up.
	if _, ok, err := a.AuthenticateToken(context.Background(), "some-service-account-jwt"); ok || err != nil || f.reads != 1 {
		t.Fatalf("foreign token: ok=%v err=%v reads=%d", ok, err, f.reads)
	}
}

func TestNewNeedsSecrets(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("authenticator without a secret reader accepted")
	}
}
