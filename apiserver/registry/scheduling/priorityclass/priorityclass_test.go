package priorityclass

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
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

func ptr[T any](v T) *T { return &v }

func TestDefaults(t *testing.T) {
	pc := &schedulingv1.PriorityClass{Value: 10}
	setDefaults(pc)
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy = %v, want PreemptLowerPriority", pc.PreemptionPolicy)
	}
	pc.PreemptionPolicy = ptr(corev1.PreemptNever)
	setDefaults(pc)
	if *pc.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("default overwrote Never")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		pc   schedulingv1.PriorityClass
		want []string
	}{
		{"user class", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}, nil},
		{"user value too high", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: HighestUserDefinablePriority + 1},
			[]string{"FieldValueForbidden value"}},
		{"system class", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}, nil},
		{"system class wrong value", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 5},
			[]string{"FieldValueForbidden metadata.name"}},
		{"system class global default", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: SystemCriticalPriority, GlobalDefault: true},
			[]string{"FieldValueForbidden metadata.name"}},
		{"unknown system name", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1},
			[]string{"FieldValueForbidden metadata.name"}},
		{"bad policy", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "p"}, PreemptionPolicy: ptr(corev1.PreemptionPolicy("Sometimes"))},
			[]string{"FieldValueNotSupported preemptionPolicy"}},
		{"empty policy", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "p"}, PreemptionPolicy: ptr(corev1.PreemptionPolicy(""))},
			[]string{"FieldValueRequired preemptionPolicy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, validateCreate(context.Background(), &tc.pc), tc.want)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: ptr(corev1.PreemptLowerPriority)}
	pc := old.DeepCopy()
	pc.Description = "new words"
	pc.GlobalDefault = true
	checkErrs(t, validateUpdate(context.Background(), pc, old), nil)

	pc.Value = 2000
	pc.PreemptionPolicy = ptr(corev1.PreemptNever)
	checkErrs(t, validateUpdate(context.Background(), pc, old), []string{"FieldValueForbidden value", "FieldValueInvalid preemptionPolicy"})
}

func TestCells(t *testing.T) {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", CreationTimestamp: metav1.NewTime(time.Now().Add(-4 * 24 * time.Hour))}, Value: 1000}
	setDefaults(pc)
	want := fmt.Sprint([]interface{}{"high", int64(1000), false, "4d", "PreemptLowerPriority"})
	if got := fmt.Sprint(cells(pc)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	if len(Resource().Columns) != len(cells(pc)) {
		t.Errorf("columns and cells differ in number")
	}
}

func TestSystemClassesValidate(t *testing.T) {
	for _, pc := range SystemPriorityClasses() {
		setDefaults(pc)
		checkErrs(t, validateCreate(context.Background(), pc), nil)
	}
}
