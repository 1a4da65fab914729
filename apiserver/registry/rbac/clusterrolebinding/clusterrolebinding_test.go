package clusterrolebinding

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"},
		RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}, {Kind: "ServiceAccount", Namespace: "kube-system", Name: "admin"}},
	}
}

func TestValidate(t *testing.T) {
	b := newBinding()
	setDefaults(b)
	if errs := validateCreate(context.Background(), b); len(errs) != 0 {
		t.Fatalf("valid binding: %v", errs)
	}
	b.RoleRef.Kind = "Role"
	b.Subjects[1].Namespace = ""
	errs := validateCreate(context.Background(), b)
	got := map[string]bool{}
	for _, e := range errs {
		got[string(e.Type)+" "+e.Field] = true
	}
	if len(errs) != 2 || !got["FieldValueNotSupported roleRef.kind"] || !got["FieldValueRequired subjects[1].namespace"] {
		t.Errorf("errors = %v", errs)
	}
}

func TestRoleRefImmutable(t *testing.T) {
	old := newBinding()
	setDefaults(old)
	b := old.DeepCopy()
	b.RoleRef.Name = "view"
	errs := validateUpdate(context.Background(), b, old)
	if len(errs) != 1 || errs[0].Field != "roleRef" {
		t.Errorf("errors = %v, want roleRef immutable", errs)
	}
}

func TestCells(t *testing.T) {
	b := newBinding()
	b.CreationTimestamp = metav1.NewTime(time.Now().Add(-49 * time.Hour))
	want := fmt.Sprint([]interface{}{"cluster-admin", "ClusterRole/cluster-admin", "2d1h", "", "system:masters", "kube-system/admin"})
	if got := fmt.Sprint(cells(b)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	if r := Resource(); r.Namespaced || r.Columns[3].Description != "Users in the clusterRoleBinding" {
		t.Errorf("resource = %+v", r)
	}
}
