package configmap

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

func cm(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: "default"}, Data: data, BinaryData: binary}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "configmaps" || r.ShortNames[0] != "cm" || !r.Namespaced {
		t.Fatalf("unexpected resource description: %+v", r)
	}
}

func TestValidate(t *testing.T) {
	big := strings.Repeat("x", 600*1024)
	tests := []struct {
		name string
		in   *corev1.ConfigMap
		want []string
	}{
		{"valid", cm(map[string]string{"app.properties": "a=1", "KEY_1": "v", ".hidden": ""}, map[string][]byte{"logo.png": {1, 2}}), nil},
		{"bad data key", cm(map[string]string{"a/b": "x"}, nil), []string{"data[a/b]: Invalid value"}},
		{"bad binary key", cm(nil, map[string][]byte{"..": {1}}), []string{"binaryData[..]: Invalid value"}},
		{"key in both", cm(map[string]string{"k": "x"}, map[string][]byte{"k": {1}}), []string{"data[k]: Invalid value"}},
		{"at the limit", cm(map[string]string{"a": strings.Repeat("x", 1024*1024)}, nil), nil},
		{"too large together", cm(map[string]string{"a": big}, map[string][]byte{"b": []byte(big)}), []string{"[]: Too long"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(ctx, tc.in), tc.want...)
		})
	}
}

func TestValidateUpdateImmutable(t *testing.T) {
	immutable := func(c *corev1.ConfigMap) *corev1.ConfigMap { c.Immutable = ptr.To(true); return c }
	tests := []struct {
		name     string
		old, new *corev1.ConfigMap
		want     []string
	}{
		{"mutable may change", cm(map[string]string{"a": "1"}, nil), cm(map[string]string{"a": "2"}, nil), nil},
		{"becoming immutable", cm(map[string]string{"a": "1"}, nil), immutable(cm(map[string]string{"a": "2"}, nil)), nil},
		{"immutable unchanged", immutable(cm(map[string]string{"a": "1"}, nil)), immutable(cm(map[string]string{"a": "1"}, nil)), nil},
		{"nil and empty data are the same", immutable(cm(nil, nil)), immutable(cm(map[string]string{}, map[string][]byte{})), nil},
		{"data changed", immutable(cm(map[string]string{"a": "1"}, nil)), immutable(cm(map[string]string{"a": "2"}, nil)), []string{"data: Forbidden"}},
		{"binary data changed", immutable(cm(nil, map[string][]byte{"a": {1}})), immutable(cm(nil, map[string][]byte{"a": {2}})), []string{"binaryData: Forbidden"}},
		{"immutable unset", immutable(cm(nil, nil)), cm(nil, nil), []string{"immutable: Forbidden"}},
		{"immutable false", immutable(cm(nil, nil)), func() *corev1.ConfigMap { c := cm(nil, nil); c.Immutable = ptr.To(false); return c }(), []string{"immutable: Forbidden"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, tc.new, tc.old), tc.want...)
		})
	}
}

func TestTable(t *testing.T) {
	r := Resource()
	c := cm(map[string]string{"a": "1", "b": "2"}, map[string][]byte{"c": {1}})
	c.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	cells := r.Cells(c)
	if len(cells) != len(r.Columns) || cells[0] != "conf" || cells[1] != int64(3) || cells[2] != "90s" {
		t.Errorf("cells = %v", cells)
	}
}
