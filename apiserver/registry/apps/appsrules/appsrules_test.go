package appsrules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateSelector(t *testing.T) {
	p := field.NewPath("spec", "selector")
	cases := []struct {
		name   string
		sel    *metav1.LabelSelector
		want   field.ErrorType
		detail string
	}{
		{"valid", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, "", ""},
		{"nil", nil, field.ErrorTypeRequired, ""},
		{"empty", &metav1.LabelSelector{}, field.ErrorTypeInvalid, "empty selector is invalid for deployment"},
		{"bad value", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a b"}}, field.ErrorTypeInvalid, ""},
		{"bad operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}, field.ErrorTypeInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateSelector(tc.sel, "deployment", p)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) == 0 || errs[0].Type != tc.want {
				t.Fatalf("want %s, got %v", tc.want, errs)
			}
			if tc.detail != "" && errs[0].Detail != tc.detail {
				t.Errorf("detail %q, want %q", errs[0].Detail, tc.detail)
			}
		})
	}
}

func TestValidatePositiveIntOrPercent(t *testing.T) {
	cases := []struct {
		v       intstr.IntOrString
		wantErr bool
	}{
		{intstr.FromInt32(0), false},
		{intstr.FromInt32(3), false},
		{intstr.FromInt32(-1), true},
		{intstr.FromString("25%"), false},
		{intstr.FromString("25"), true},
		{intstr.FromString("x%"), true},
		{intstr.FromString("-5%"), true},
	}
	for _, tc := range cases {
		errs := ValidatePositiveIntOrPercent(tc.v, field.NewPath("x"))
		if (len(errs) != 0) != tc.wantErr {
			t.Errorf("%s: errors %v, want error %v", tc.v.String(), errs, tc.wantErr)
		}
	}
}

func TestIntOrPercent(t *testing.T) {
	if got := IntOrPercentValue(intstr.FromString("30%")); got != 30 {
		t.Errorf("30%% = %d", got)
	}
	if got := IntOrPercentValue(intstr.FromInt32(4)); got != 4 {
		t.Errorf("4 = %d", got)
	}
	if got := IntOrStringValue(nil); got != intstr.FromInt32(0) {
		t.Errorf("nil = %v", got)
	}
	if errs := IsNotMoreThan100Percent(intstr.FromString("101%"), field.NewPath("x")); len(errs) != 1 || errs[0].Detail != "must not be greater than 100%" {
		t.Errorf("101%%: %v", errs)
	}
	if errs := IsNotMoreThan100Percent(intstr.FromString("100%"), field.NewPath("x")); len(errs) != 0 {
		t.Errorf("100%%: %v", errs)
	}
	if errs := IsNotMoreThan100Percent(intstr.FromInt32(500), field.NewPath("x")); len(errs) != 0 {
		t.Errorf("500: %v", errs)
	}
}

func TestValidateCollisionCount(t *testing.T) {
	p := field.NewPath("status", "collisionCount")
	cases := []struct {
		name     string
		new, old *int32
		wantErr  bool
	}{
		{"unset", nil, nil, false},
		{"set", ptr.To[int32](1), nil, false},
		{"same", ptr.To[int32](2), ptr.To[int32](2), false},
		{"up", ptr.To[int32](3), ptr.To[int32](2), false},
		{"down", ptr.To[int32](1), ptr.To[int32](2), true},
		{"removed", nil, ptr.To[int32](2), true},
	}
	for _, tc := range cases {
		errs := ValidateCollisionCount(tc.new, tc.old, p)
		if (len(errs) != 0) != tc.wantErr {
			t.Errorf("%s: %v", tc.name, errs)
		}
		if tc.wantErr && errs[0].Detail != "cannot be decremented" {
			t.Errorf("%s: detail %q", tc.name, errs[0].Detail)
		}
	}
}

func TestRestartAlways(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, ActiveDeadlineSeconds: ptr.To[int64](5)}}
	errs := ValidateRestartAlways(tmpl, "ReplicaSet", field.NewPath("spec", "template", "spec"))
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
	if errs[0].Type != field.ErrorTypeNotSupported || errs[0].Field != "spec.template.spec.restartPolicy" {
		t.Errorf("restartPolicy: %v", errs[0])
	}
	if errs[1].Type != field.ErrorTypeForbidden || errs[1].Detail != "activeDeadlineSeconds in ReplicaSet is not Supported" {
		t.Errorf("activeDeadlineSeconds: %v", errs[1])
	}
}

func TestContainerCells(t *testing.T) {
	names, images := ContainerCells([]corev1.Container{{Name: "a", Image: "x:1"}, {Name: "b", Image: "y:2"}})
	if names != "a,b" || images != "x:1,y:2" {
		t.Errorf("got %q %q", names, images)
	}
	names, images = ContainerCells(nil)
	if names != "" || images != "" {
		t.Errorf("empty: %q %q", names, images)
	}
}

func TestSelectorString(t *testing.T) {
	s, err := SelectorString(&metav1.LabelSelector{MatchLabels: map[string]string{"b": "2", "a": "1"}})
	if err != nil || s != "a=1,b=2" {
		t.Errorf("got %q, %v", s, err)
	}
	if _, err := SelectorString(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}); err == nil {
		t.Error("want error for a bad operator")
	}
}
