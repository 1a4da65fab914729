package rolebinding

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: "default"},
		RoleRef:    rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "ServiceAccount", Name: "default"}},
	}
}

func TestDefaultsAndValidate(t *testing.T) {
	b := newBinding()
	if errs := validateCreate(context.Background(), b); len(errs) == 0 {
		t.Fatalf("undefaulted apiGroups should not validate")
	}
	setDefaults(b)
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName {
		t.Fatalf("defaults not applied: %+v", b)
	}
	if errs := validateCreate(context.Background(), b); len(errs) != 0 {
		t.Errorf("valid binding: %v", errs)
	}
}

func TestRoleRefImmutable(t *testing.T) {
	old := newBinding()
	setDefaults(old)
	b := old.DeepCopy()
	b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "devs"})
	if errs := validateUpdate(context.Background(), b, old); len(errs) != 0 {
		t.Errorf("changing subjects: %v", errs)
	}
	b.RoleRef.Name = "admin"
	errs := validateUpdate(context.Background(), b, old)
	if len(errs) != 1 || errs[0].Field != "roleRef" || errs[0].Detail != "cannot change roleRef" {
		t.Errorf("errors = %v, want roleRef immutable", errs)
	}
}

func TestCells(t *testing.T) {
	b := newBinding()
	b.Subjects[1].Namespace = "default"
	b.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	want := fmt.Sprint([]interface{}{"read-pods", "Role/pod-reader", "60m", "jane", "", "default/default"})
	if got := fmt.Sprint(cells(b)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	if len(Resource().Columns) != len(cells(b)) {
		t.Errorf("columns and cells differ in number")
	}
}
