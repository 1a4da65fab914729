package rules

import (
	"fmt"
	"sort"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func checkErrs(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors = %v, want %v (%v)", got, want, errs)
	}
}

func TestValidateName(t *testing.T) {
	for name, bad := range map[string]bool{"system:controller:foo": false, "a.b-c": false, ".": true, "..": true, "a/b": true, "a%b": true} {
		if got := len(ValidateName(name, false)) > 0; got != bad {
			t.Errorf("ValidateName(%q) rejected = %v, want %v", name, got, bad)
		}
	}
}

func TestValidatePolicyRules(t *testing.T) {
	tests := []struct {
		name       string
		rule       rbacv1.PolicyRule
		namespaced bool
		want       []string
	}{
		{"resource rule", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, true, nil},
		{"resource names on several resources", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods", "services"}, ResourceNames: []string{"x"}}, true, nil},
		{"verbs required", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}}, true, []string{"FieldValueRequired rules[0].verbs"}},
		{"groups and resources required", rbacv1.PolicyRule{Verbs: []string{"get"}}, false,
			[]string{"FieldValueRequired rules[0].apiGroups", "FieldValueRequired rules[0].resources"}},
		{"non-resource URL in cluster role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, false, nil},
		{"non-resource URL in role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, true,
			[]string{"FieldValueInvalid rules[0].nonResourceURLs"}},
		{"mixed", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}, Resources: []string{"pods"}}, false,
			[]string{"FieldValueInvalid rules[0].nonResourceURLs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidatePolicyRules([]rbacv1.PolicyRule{tc.rule}, tc.namespaced), tc.want)
		})
	}
}

func TestDefaultBinding(t *testing.T) {
	ref := rbacv1.RoleRef{Kind: "Role", Name: "r"}
	subjects := []rbacv1.Subject{{Kind: "User", Name: "u"}, {Kind: "Group", Name: "g"}, {Kind: "ServiceAccount", Name: "sa"}}
	DefaultBinding(&ref, subjects)
	if ref.APIGroup != rbacv1.GroupName {
		t.Errorf("roleRef.apiGroup = %q", ref.APIGroup)
	}
	if subjects[0].APIGroup != rbacv1.GroupName || subjects[1].APIGroup != rbacv1.GroupName || subjects[2].APIGroup != "" {
		t.Errorf("subjects = %+v", subjects)
	}
}

func TestValidateBinding(t *testing.T) {
	good := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}
	tests := []struct {
		name       string
		ref        rbacv1.RoleRef
		subjects   []rbacv1.Subject
		namespaced bool
		want       []string
	}{
		{"valid", good, []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}, {Kind: "ServiceAccount", Name: "default"}}, true, nil},
		{"role in cluster binding", good, nil, false, []string{"FieldValueNotSupported roleRef.kind"}},
		{"bad ref", rbacv1.RoleRef{APIGroup: "apps", Kind: "Deployment"}, nil, true,
			[]string{"FieldValueNotSupported roleRef.apiGroup", "FieldValueNotSupported roleRef.kind", "FieldValueRequired roleRef.name"}},
		{"ref name not a path segment", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "a/b"}, nil, false,
			[]string{"FieldValueInvalid roleRef.name"}},
		{"subject kind", good, []rbacv1.Subject{{Kind: "Robot", Name: "r2"}}, true, []string{"FieldValueNotSupported subjects[0].kind"}},
		{"subject name required", good, []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName}}, true, []string{"FieldValueRequired subjects[0].name"}},
		{"user apiGroup", good, []rbacv1.Subject{{Kind: "User", Name: "jane"}}, true, []string{"FieldValueNotSupported subjects[0].apiGroup"}},
		{"service account apiGroup and name", good, []rbacv1.Subject{{Kind: "ServiceAccount", APIGroup: rbacv1.GroupName, Name: "Bad_Name"}}, true,
			[]string{"FieldValueNotSupported subjects[0].apiGroup", "FieldValueInvalid subjects[0].name"}},
		{"service account needs namespace in cluster binding", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			[]rbacv1.Subject{{Kind: "ServiceAccount", Name: "default"}}, false, []string{"FieldValueRequired subjects[0].namespace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidateBinding(tc.ref, tc.subjects, tc.namespaced), tc.want)
		})
	}
}

func TestValidateRoleRefUpdate(t *testing.T) {
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	checkErrs(t, ValidateRoleRefUpdate(ref, ref), nil)
	other := ref
	other.Name = "edit"
	checkErrs(t, ValidateRoleRefUpdate(other, ref), []string{"FieldValueInvalid roleRef"})
}

func TestCells(t *testing.T) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	meta := &metav1.ObjectMeta{Name: "reader", CreationTimestamp: metav1.NewTime(created)}
	if got := fmt.Sprint(RoleCells(meta)); got != "[reader 2025-03-04T04:06:07Z]" {
		t.Errorf("role cells = %s", got)
	}
	meta.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * time.Minute))
	subjects := []rbacv1.Subject{
		{Kind: "User", Name: "jane"}, {Kind: "User", Name: "joe"},
		{Kind: "Group", Name: "devs"},
		{Kind: "ServiceAccount", Namespace: "ci", Name: "builder"},
	}
	got := fmt.Sprint(BindingCells(meta, rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, subjects))
	if want := fmt.Sprint([]interface{}{"reader", "ClusterRole/view", "3m", "jane, joe", "devs", "ci/builder"}); got != want {
		t.Errorf("binding cells = %s, want %s", got, want)
	}
	if len(BindingColumns("roleBinding")) != 6 || BindingColumns("roleBinding")[3].Priority != 1 {
		t.Errorf("binding columns: wide columns must have priority 1")
	}
}
