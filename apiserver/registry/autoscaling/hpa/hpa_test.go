package hpa

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
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

func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
		},
	}
}

func TestDefaults(t *testing.T) {
	hpa := newHPA()
	setDefaults(hpa)
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 {
		t.Errorf("minReplicas = %v, want 1", hpa.Spec.MinReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil ||
		hpa.Spec.Metrics[0].Resource.Name != "cpu" || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 ||
		hpa.Spec.Metrics[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType {
		t.Errorf("metrics = %+v, want cpu at 80%% utilization", hpa.Spec.Metrics)
	}
	if hpa.Spec.Behavior != nil {
		t.Errorf("behavior defaulted without being set")
	}

	// A partial behavior is filled in, keeping what was given.
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(60))},
	}
	setDefaults(hpa)
	up, down := hpa.Spec.Behavior.ScaleUp, hpa.Spec.Behavior.ScaleDown
	if up == nil || *up.StabilizationWindowSeconds != 0 || *up.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(up.Policies) != 2 ||
		up.Policies[0] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}) ||
		up.Policies[1] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) {
		t.Errorf("scaleUp = %+v", up)
	}
	if *down.StabilizationWindowSeconds != 60 || *down.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(down.Policies) != 1 ||
		down.Policies[0] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) {
		t.Errorf("scaleDown = %+v", down)
	}

	again := hpa.DeepCopy()
	setDefaults(again)
	if !equality.Semantic.DeepEqual(hpa, again) {
		t.Errorf("defaulting is not idempotent")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*autoscalingv2.HorizontalPodAutoscaler)
		want   []string
	}{
		{"valid", func(*autoscalingv2.HorizontalPodAutoscaler) {}, nil},
		{"minReplicas zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(0)) },
			[]string{"FieldValueInvalid spec.minReplicas", "FieldValueForbidden spec.metrics"}},
		{"maxReplicas zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 },
			[]string{"FieldValueInvalid spec.maxReplicas", "FieldValueInvalid spec.maxReplicas"}},
		{"max below min", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(11)) },
			[]string{"FieldValueInvalid spec.maxReplicas"}},
		{"scale target required", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		}, []string{"FieldValueRequired spec.scaleTargetRef.kind", "FieldValueRequired spec.scaleTargetRef.name"}},
		{"scale target name not a path segment", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef.Name = "a/b"
		}, []string{"FieldValueInvalid spec.scaleTargetRef.name"}},
		{"utilization below 1", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr(int32(0))
		}, []string{"FieldValueInvalid spec.metrics[0].resource.target.averageUtilization"}},
		{"resource target missing", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}
		}, []string{"FieldValueRequired spec.metrics[0].resource.target.averageUtilization"}},
		{"resource target both", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageValue = ptr(resource.MustParse("100m"))
		}, []string{"FieldValueForbidden spec.metrics[0].resource.target.averageValue"}},
		{"bad target type", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.Type = "Percent"
		}, []string{"FieldValueInvalid spec.metrics[0].resource.target.type"}},
		{"type without source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		}, []string{"FieldValueRequired spec.metrics[0].pods"}},
		{"two sources", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
			h.Spec.Metrics[0].Pods = &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("10"))},
			}
		}, []string{"FieldValueForbidden spec.metrics[0].resource"}},
		{"unknown type", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = "Magic"
		}, []string{"FieldValueNotSupported spec.metrics[0].type", "FieldValueNotSupported spec.metrics[0].type"}},
		{"pods metric needs averageValue", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType},
			}}}
		}, []string{"FieldValueRequired spec.metrics[0].pods.target.averageValue"}},
		{"external metric value and average", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("5")), AverageValue: ptr(resource.MustParse("1"))},
			}}}
		}, []string{"FieldValueForbidden spec.metrics[0].external.target.value"}},
		{"container resource", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name: "pods", Container: "App",
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(50))},
			}}}
		}, []string{"FieldValueInvalid spec.metrics[0].containerResource.name", "FieldValueInvalid spec.metrics[0].containerResource.container"}},
		{"behavior policies", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr(int32(4000)),
					SelectPolicy:               ptr(autoscalingv2.ScalingPolicySelect("Avg")),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Nodes", Value: 0, PeriodSeconds: 1801}},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{},
			}
		}, []string{
			"FieldValueInvalid spec.behavior.scaleUp.stabilizationWindowSeconds",
			"FieldValueNotSupported spec.behavior.scaleUp.selectPolicy",
			"FieldValueNotSupported spec.behavior.scaleUp.policies[0].type",
			"FieldValueInvalid spec.behavior.scaleUp.policies[0].value",
			"FieldValueInvalid spec.behavior.scaleUp.policies[0].periodSeconds",
			"FieldValueRequired spec.behavior.scaleDown.policies",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hpa := newHPA()
			setDefaults(hpa)
			tc.mutate(hpa)
			checkErrs(t, validateCreate(context.Background(), hpa), tc.want)
		})
	}
}

func TestUpdate(t *testing.T) {
	old := newHPA()
	setDefaults(old)
	old.Spec.MinReplicas = ptr(int32(0))
	old.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("5"))},
	}}}
	old.Status.CurrentReplicas = 3
	hpa := old.DeepCopy()
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	hpa.Spec.MaxReplicas = 5
	// minReplicas 0 stays allowed once stored.
	checkErrs(t, validateUpdate(context.Background(), hpa, old), nil)
	prepareForUpdate(context.Background(), hpa, old)
	if hpa.Status.CurrentReplicas != 3 {
		t.Errorf("update changed status to %+v", hpa.Status)
	}
}

func TestPrepareForCreate(t *testing.T) {
	hpa := newHPA()
	setDefaults(hpa)
	hpa.Status.CurrentReplicas = 7
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("0.05"))}}
	prepareForCreate(context.Background(), hpa)
	if hpa.Status.CurrentReplicas != 0 {
		t.Errorf("status not cleared: %+v", hpa.Status)
	}
	if hpa.Spec.Behavior.ScaleUp.Tolerance != nil {
		t.Errorf("alpha tolerance kept on create")
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	hpa := newHPA()
	hpa.Status.CurrentReplicas = -1
	hpa.Status.DesiredReplicas = -2
	checkErrs(t, validateStatusUpdate(context.Background(), hpa, newHPA()), []string{
		"FieldValueInvalid status.currentReplicas", "FieldValueInvalid status.desiredReplicas",
	})
}

func TestFormatMetrics(t *testing.T) {
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: "cpu", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))},
	}}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: "memory", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("100Mi"))},
	}}
	pods := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("10"))},
	}}
	external := autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("30"))},
	}}
	cpuStatus := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: "cpu", Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(42))},
	}}
	tests := []struct {
		name     string
		specs    []autoscalingv2.MetricSpec
		statuses []autoscalingv2.MetricStatus
		want     string
	}{
		{"none", nil, nil, "<none>"},
		{"cpu unknown", []autoscalingv2.MetricSpec{cpu}, nil, "cpu: <unknown>/80%"},
		{"cpu observed", []autoscalingv2.MetricSpec{cpu}, []autoscalingv2.MetricStatus{cpuStatus}, "cpu: 42%/80%"},
		{"memory average value", []autoscalingv2.MetricSpec{mem}, nil, "memory: <unknown>/100Mi"},
		{"pods", []autoscalingv2.MetricSpec{pods}, nil, "<unknown>/10"},
		{"external avg", []autoscalingv2.MetricSpec{external}, nil, "<unknown>/30 (avg)"},
		{"more than two", []autoscalingv2.MetricSpec{cpu, mem, pods}, []autoscalingv2.MetricStatus{cpuStatus}, "cpu: 42%/80%, memory: <unknown>/100Mi + 1 more..."},
	}
	for _, tc := range tests {
		if got := formatMetrics(tc.specs, tc.statuses); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCells(t *testing.T) {
	hpa := newHPA()
	setDefaults(hpa)
	hpa.Status.CurrentReplicas = 2
	hpa.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	want := fmt.Sprint([]interface{}{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(10), int64(2), "90s"})
	if got := fmt.Sprint(cells(hpa)); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	if n := len(Resource().Columns); n != len(cells(hpa)) {
		t.Errorf("%d columns, %d cells", n, len(cells(hpa)))
	}
}
