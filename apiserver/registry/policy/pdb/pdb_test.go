package pdb

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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

func ptr[T any](v T) *T { return &v }

func newPDB() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func TestNames(t *testing.T) {
	r := Resource()
	if len(r.ValidateName("My_PDB", false)) != 0 || len(r.ValidateName("a/b", false)) == 0 {
		t.Errorf("PDB names follow the path-segment rule only")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*policyv1.PodDisruptionBudget)
		want   []string
	}{
		{"valid", func(*policyv1.PodDisruptionBudget) {}, nil},
		{"percentage", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr(intstr.FromString("50%")) }, nil},
		{"both set", func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr(intstr.FromInt32(1)) },
			[]string{"FieldValueInvalid spec"}},
		{"negative", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr(intstr.FromInt32(-1)) },
			[]string{"FieldValueInvalid spec.minAvailable"}},
		{"over 100 percent", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = nil
			p.Spec.MaxUnavailable = ptr(intstr.FromString("150%"))
		}, []string{"FieldValueInvalid spec.maxUnavailable"}},
		{"not a percentage", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr(intstr.FromString("half")) },
			[]string{"FieldValueInvalid spec.minAvailable"}},
		{"bad selector", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
		}, []string{"FieldValueInvalid spec.selector.matchExpressions[0].operator"}},
		{"eviction policy", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr(policyv1.UnhealthyPodEvictionPolicyType("Never"))
		}, []string{"FieldValueNotSupported spec.unhealthyPodEvictionPolicy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pdb := newPDB()
			tc.mutate(pdb)
			checkErrs(t, validateCreate(context.Background(), pdb), tc.want)
		})
	}
}

func TestUpdate(t *testing.T) {
	old := newPDB()
	old.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a b"}}}
	old.Generation = 2
	old.Status.DisruptionsAllowed = 1
	pdb := old.DeepCopy()
	pdb.Status = policyv1.PodDisruptionBudgetStatus{}
	pdb.Spec.MinAvailable = ptr(intstr.FromInt32(3))
	checkErrs(t, validateUpdate(context.Background(), pdb, old), nil)
	checkErrs(t, validateCreate(context.Background(), pdb), []string{"FieldValueInvalid spec.selector.matchExpressions[0].values[0]"})

	prepareForUpdate(context.Background(), pdb, old)
	if pdb.Generation != 3 || pdb.Status.DisruptionsAllowed != 1 {
		t.Errorf("generation %d, status %+v", pdb.Generation, pdb.Status)
	}
}

func TestPrepareForCreate(t *testing.T) {
	pdb := newPDB()
	pdb.Status.DisruptionsAllowed = 5
	prepareForCreate(context.Background(), pdb)
	if pdb.Status.DisruptionsAllowed != 0 || pdb.Generation != 1 {
		t.Errorf("status %+v generation %d", pdb.Status, pdb.Generation)
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	pdb := newPDB()
	pdb.Status.DisruptionsAllowed = -1
	pdb.Status.ExpectedPods = -1
	pdb.Status.Conditions = []metav1.Condition{{Type: "DisruptionAllowed", Status: "Maybe", Reason: "x", LastTransitionTime: metav1.Now()}}
	checkErrs(t, validateStatusUpdate(context.Background(), pdb, newPDB()), []string{
		"FieldValueInvalid status.disruptionsAllowed", "FieldValueInvalid status.expectedPods",
		"FieldValueNotSupported status.conditions[0].status",
	})
}

func TestCells(t *testing.T) {
	pdb := newPDB()
	pdb.Status.DisruptionsAllowed = 1
	pdb.CreationTimestamp = metav1.NewTime(time.Now().Add(-26 * time.Hour))
	want := fmt.Sprint([]interface{}{"web", "2", "N/A", int64(1), "26h"})
	if got := fmt.Sprint(cells(pdb)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable = nil, ptr(intstr.FromString("25%"))
	if c := cells(pdb); c[1] != "N/A" || c[2] != "25%" {
		t.Errorf("cells = %v", c)
	}
}
