package secret

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

func secret(typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: typ}
	if data != nil {
		s.Data = map[string][]byte{}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
	}
	return s
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "secrets" || len(r.ShortNames) != 0 || !r.Namespaced {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	if f := r.Fields(secret(corev1.SecretTypeTLS, nil)); f["type"] != "kubernetes.io/tls" {
		t.Errorf("fields = %v", f)
	}
}

func TestDefault(t *testing.T) {
	s := secret("", map[string]string{"a": "old", "b": "keep"})
	s.StringData = map[string]string{"a": "new", "c": "added"}
	Resource().Default(s)
	Resource().Default(s)
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q", s.Type)
	}
	if string(s.Data["a"]) != "new" || string(s.Data["b"]) != "keep" || string(s.Data["c"]) != "added" || s.StringData != nil {
		t.Errorf("data = %q, stringData = %v", s.Data, s.StringData)
	}
	only := &corev1.Secret{StringData: map[string]string{"x": "y"}, Type: corev1.SecretTypeBasicAuth}
	Default(only)
	if string(only.Data["x"]) != "y" || only.Type != corev1.SecretTypeBasicAuth {
		t.Errorf("secret = %+v", only)
	}
}

func TestValidate(t *testing.T) {
	sa := secret(corev1.SecretTypeServiceAccountToken, nil)
	sa.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
	tests := []struct {
		name string
		in   *corev1.Secret
		want []string
	}{
		{"opaque", secret(corev1.SecretTypeOpaque, map[string]string{"password": "x", "a.b-c_D": "y"}), nil},
		{"custom type", secret("example.com/custom", nil), nil},
		{"bad key", secret(corev1.SecretTypeOpaque, map[string]string{"a b": "x"}), []string{"data[a b]: Invalid value"}},
		{"too large", secret(corev1.SecretTypeOpaque, map[string]string{"a": strings.Repeat("x", 1024*1024), "b": "y"}), []string{"data: Too long"}},
		{"tls", secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"}), nil},
		{"tls without key", secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c"}), []string{"data[tls.key]: Required value"}},
		{"tls empty", secret(corev1.SecretTypeTLS, nil), []string{"data[tls.crt]: Required value", "data[tls.key]: Required value"}},
		{"dockerconfigjson", secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{}}`}), nil},
		{"dockerconfigjson missing", secret(corev1.SecretTypeDockerConfigJson, nil), []string{"data[.dockerconfigjson]: Required value"}},
		{"dockerconfigjson not json", secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": "{"}), []string{"data[.dockerconfigjson]: Invalid value"}},
		{"dockercfg missing", secret(corev1.SecretTypeDockercfg, nil), []string{"data[.dockercfg]: Required value"}},
		{"basic auth password only", secret(corev1.SecretTypeBasicAuth, map[string]string{"password": ""}), nil},
		{"basic auth empty", secret(corev1.SecretTypeBasicAuth, nil), []string{"data[username]: Required value", "data[password]: Required value"}},
		{"ssh auth empty key", secret(corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": ""}), []string{"data[ssh-privatekey]: Required value"}},
		{"service account token", sa, nil},
		{"service account token without name", secret(corev1.SecretTypeServiceAccountToken, nil), []string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(ctx, tc.in), tc.want...)
		})
	}
}

func TestValidateRedactsContents(t *testing.T) {
	errs := Resource().Validate(ctx, secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": "hunter2"}))
	if len(errs) != 1 || strings.Contains(errs.ToAggregate().Error(), "hunter2") {
		t.Errorf("errors leak contents: %v", errs)
	}
}

func TestValidateUpdate(t *testing.T) {
	immutable := func(s *corev1.Secret) *corev1.Secret { s.Immutable = ptr.To(true); return s }
	tests := []struct {
		name     string
		old, new *corev1.Secret
		want     []string
	}{
		{"data may change", secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"}), secret(corev1.SecretTypeOpaque, map[string]string{"a": "2"}), nil},
		{"type immutable", secret(corev1.SecretTypeOpaque, nil), secret("example.com/x", nil), []string{"type: Invalid value"}},
		{"immutable data", immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"})), immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "2"})), []string{"data: Forbidden"}},
		{"immutable unset", immutable(secret(corev1.SecretTypeOpaque, nil)), secret(corev1.SecretTypeOpaque, nil), []string{"immutable: Forbidden"}},
		{"immutable, metadata only", immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"})), immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"})), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, tc.new, tc.old), tc.want...)
		})
	}
	errs := Resource().ValidateUpdate(ctx, secret("x/y", nil), secret(corev1.SecretTypeOpaque, nil))
	fieldtest.ExpectDetail(t, errs, "type", "field is immutable")
}

func TestTable(t *testing.T) {
	r := Resource()
	s := secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"})
	s.CreationTimestamp = metav1.NewTime(time.Now().Add(-30 * time.Minute))
	cells := r.Cells(s)
	if len(cells) != len(r.Columns) || cells[0] != "s" || cells[1] != "kubernetes.io/tls" || cells[2] != int64(2) || cells[3] != "30m" {
		t.Errorf("cells = %v", cells)
	}
}
