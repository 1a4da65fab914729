package role

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResource(t *testing.T) {
	r := Resource()
	if !r.Namespaced || r.Resource != "roles" || r.ValidateName == nil {
		t.Fatalf("resource = %+v", r)
	}
	if len(r.ValidateName("a/b", false)) == 0 || len(r.ValidateName("system:aggregate-to-view", false)) != 0 {
		t.Errorf("role names must be path segments, colons allowed")
	}
	if r.Columns[1].Name != "Created At" {
		t.Errorf("columns = %v", r.Columns)
	}
}

func TestValidate(t *testing.T) {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: "default"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
	}
	if errs := validate(context.Background(), role); len(errs) != 0 {
		t.Fatalf("valid role: %v", errs)
	}
	role.Rules = append(role.Rules, rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}})
	errs := Resource().ValidateUpdate(context.Background(), role, role)
	if len(errs) != 1 || errs[0].Field != "rules[1].nonResourceURLs" {
		t.Errorf("errors = %v, want one on rules[1].nonResourceURLs", errs)
	}
}
