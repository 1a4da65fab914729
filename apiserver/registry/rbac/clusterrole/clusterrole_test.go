package clusterrole

import (
	"context"
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

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		role rbacv1.ClusterRole
		want []string
	}{
		{"non-resource URLs allowed", rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}}, nil},
		{"aggregated", rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-monitoring": "true"}},
		}}}, nil},
		{"empty aggregation rule", rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{}},
			[]string{"FieldValueRequired aggregationRule.clusterRoleSelectors"}},
		{"bad selector", rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn}}},
		}}}, []string{"FieldValueRequired aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values", "FieldValueInvalid aggregationRule.clusterRoleSelectors[0]"}},
		{"rule without verbs", rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}}}},
			[]string{"FieldValueRequired rules[0].verbs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, validateCreate(context.Background(), &tc.role), tc.want)
		})
	}
}

func TestUpdateKeepsInvalidSelectorValues(t *testing.T) {
	old := &rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn, Values: []string{"not valid"}}}},
	}}}
	r := old.DeepCopy()
	r.Labels = map[string]string{"x": "y"}
	// The value error is waived for stored data; the selector still fails to
	// parse, which Kubernetes reports as well.
	checkErrs(t, validateUpdate(context.Background(), r, old), []string{"FieldValueInvalid aggregationRule.clusterRoleSelectors[0]"})
	checkErrs(t, validateCreate(context.Background(), r), []string{
		"FieldValueInvalid aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values[0]",
		"FieldValueInvalid aggregationRule.clusterRoleSelectors[0]",
	})
}

func TestCells(t *testing.T) {
	r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view", CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))}}
	if got := fmt.Sprint(cells(r)); got != "[view 2025-01-02T03:04:05Z]" {
		t.Errorf("cells = %s", got)
	}
	if res := Resource(); res.Namespaced || len(res.Columns) != 2 {
		t.Errorf("clusterroles are cluster-scoped with NAME and CREATED AT")
	}
}
