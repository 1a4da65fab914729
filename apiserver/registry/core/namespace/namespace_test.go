package namespace

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry/core/internal/fieldtest"
)

func ns(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
	}
}

func TestResourceNames(t *testing.T) {
	r := Resource()
	if r.Resource != "namespaces" || r.Namespaced || !slices.Equal(r.ShortNames, []string{"ns"}) || r.Status == nil {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	for name, ok := range map[string]bool{"team-a": true, "Team": false, "a.b": false, "x": true} {
		if got := len(r.ValidateName(name, false)) == 0; got != ok {
			t.Errorf("ValidateName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}

func TestDefault(t *testing.T) {
	r := Resource()
	n := ns("team-a")
	r.Default(n)
	r.Default(n) // idempotent
	if n.Labels[corev1.LabelMetadataName] != "team-a" || len(n.Labels) != 1 {
		t.Errorf("labels = %v", n.Labels)
	}
	if n.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase = %q", n.Status.Phase)
	}
	unnamed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}
	r.Default(unnamed)
	if unnamed.Labels != nil {
		t.Errorf("generateName-only namespace got labels %v", unnamed.Labels)
	}
}

func TestPrepareForCreate(t *testing.T) {
	tests := []struct {
		name string
		in   []corev1.FinalizerName
		want []corev1.FinalizerName
	}{
		{"none", nil, []corev1.FinalizerName{"kubernetes"}},
		{"kept", []corev1.FinalizerName{"kubernetes"}, []corev1.FinalizerName{"kubernetes"}},
		{"appended", []corev1.FinalizerName{"example.com/x"}, []corev1.FinalizerName{"example.com/x", "kubernetes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ns("a", tc.in...)
			n.Status.Phase = corev1.NamespaceTerminating
			n.Labels = map[string]string{corev1.LabelMetadataName: "other"}
			Resource().PrepareForCreate(context.Background(), n)
			if !slices.Equal(n.Spec.Finalizers, tc.want) {
				t.Errorf("finalizers = %v, want %v", n.Spec.Finalizers, tc.want)
			}
			if n.Status.Phase != corev1.NamespaceActive {
				t.Errorf("phase = %q, want Active", n.Status.Phase)
			}
			if n.Labels[corev1.LabelMetadataName] != "a" {
				t.Errorf("name label = %q", n.Labels[corev1.LabelMetadataName])
			}
		})
	}
}

func TestPrepareForUpdateKeepsFinalizersAndStatus(t *testing.T) {
	old := ns("a", "kubernetes")
	old.Status.Phase = corev1.NamespaceActive
	n := ns("a")
	n.Status.Phase = corev1.NamespaceTerminating
	n.Labels = map[string]string{corev1.LabelMetadataName: "b", "team": "x"}
	Resource().PrepareForUpdate(context.Background(), n, old)
	if !slices.Equal(n.Spec.Finalizers, []corev1.FinalizerName{"kubernetes"}) {
		t.Errorf("finalizers = %v", n.Spec.Finalizers)
	}
	if n.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase = %q", n.Status.Phase)
	}
	if n.Labels[corev1.LabelMetadataName] != "a" || n.Labels["team"] != "x" {
		t.Errorf("labels = %v", n.Labels)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   *corev1.Namespace
		want []string
	}{
		{"standard", ns("a", "kubernetes"), nil},
		{"qualified", ns("a", "example.com/cleanup"), nil},
		{"unknown short", ns("a", "cleanup"), []string{"spec.finalizers: Invalid value"}},
		{"bad qualified", ns("a", "example.com/Bad_"), []string{"spec.finalizers: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(context.Background(), tc.in), tc.want...)
		})
	}
}

func TestValidateStatus(t *testing.T) {
	now := metav1.NewTime(time.Now())
	tests := []struct {
		name     string
		phase    corev1.NamespacePhase
		deleting bool
		want     []string
	}{
		{"active", corev1.NamespaceActive, false, nil},
		{"terminating without deletion", corev1.NamespaceTerminating, false, []string{"status.Phase: Invalid value"}},
		{"terminating while deleting", corev1.NamespaceTerminating, true, nil},
		{"active while deleting", corev1.NamespaceActive, true, []string{"status.Phase: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ns("a")
			n.Status.Phase = tc.phase
			if tc.deleting {
				n.DeletionTimestamp = &now
			}
			fieldtest.Expect(t, Resource().Status.ValidateUpdate(context.Background(), n, ns("a")), tc.want...)
		})
	}
}

func TestFinalize(t *testing.T) {
	old := ns("a", "kubernetes")
	old.Status.Phase = corev1.NamespaceTerminating
	n := ns("a")
	n.Status.Phase = corev1.NamespaceActive
	PrepareForFinalize(context.Background(), n, old)
	if len(n.Spec.Finalizers) != 0 || n.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("finalize kept %v / %q", n.Spec.Finalizers, n.Status.Phase)
	}
	fieldtest.Expect(t, ValidateFinalize(context.Background(), ns("a", "ok", "kubernetes"), old), "spec.finalizers[0]: Invalid value")
}

func TestTableAndFields(t *testing.T) {
	r := Resource()
	n := ns("a")
	n.Status.Phase = corev1.NamespaceActive
	n.CreationTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Hour))
	cells := r.Cells(n)
	if len(cells) != len(r.Columns) {
		t.Fatalf("%d cells for %d columns", len(cells), len(r.Columns))
	}
	if cells[0] != "a" || cells[1] != "Active" || cells[2] != "5h" {
		t.Errorf("cells = %v", cells)
	}
	f := r.Fields(n)
	if f["status.phase"] != "Active" || f["name"] != "a" {
		t.Errorf("fields = %v", f)
	}
}
