package limitrange

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func lr(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "limitranges" || r.ShortNames[0] != "limits" || !r.AllowCreateOnUpdate {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	created := lr()
	created.Name = ""
	r.PrepareForCreate(ctx, created)
	if len(created.Name) != 36 {
		t.Errorf("unnamed limit range got name %q", created.Name)
	}
	generated := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{GenerateName: "lr-"}}
	r.PrepareForCreate(ctx, generated)
	if generated.Name != "" {
		t.Errorf("generateName overridden by %q", generated.Name)
	}
}

func TestDefault(t *testing.T) {
	l := lr(
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "2", "memory", "1Gi"), Min: list("cpu", "100m", "ephemeral-storage", "1Gi"), Default: list("memory", "512Mi")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu", "4")},
	)
	Resource().Default(l)
	Resource().Default(l)
	c := l.Spec.Limits[0]
	want := map[string]corev1.ResourceList{
		"default":        list("cpu", "2", "memory", "512Mi"),
		"defaultRequest": list("cpu", "2", "memory", "512Mi", "ephemeral-storage", "1Gi"),
	}
	for name, got := range map[string]corev1.ResourceList{"default": c.Default, "defaultRequest": c.DefaultRequest} {
		if len(got) != len(want[name]) {
			t.Errorf("%s = %v, want %v", name, got, want[name])
		}
		for k, v := range want[name] {
			if q := got[k]; q.Cmp(v) != 0 {
				t.Errorf("%s[%s] = %v, want %v", name, k, got[k], v)
			}
		}
	}
	if l.Spec.Limits[1].Default != nil || l.Spec.Limits[1].DefaultRequest != nil {
		t.Errorf("pod limits defaulted: %+v", l.Spec.Limits[1])
	}
	fieldtest.Expect(t, Resource().Validate(ctx, l))
}

func TestValidate(t *testing.T) {
	container := func(mutate func(*corev1.LimitRangeItem)) corev1.LimitRangeItem {
		item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer}
		mutate(&item)
		return item
	}
	tests := []struct {
		name  string
		items []corev1.LimitRangeItem
		want  []string
	}{
		{"ordered", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Min, i.DefaultRequest, i.Default, i.Max = list("cpu", "100m"), list("cpu", "200m"), list("cpu", "500m"), list("cpu", "1")
			i.MaxLimitRequestRatio = list("cpu", "5")
		})}, nil},
		{"min above max", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Min, i.Max = list("memory", "2Gi"), list("memory", "1Gi")
		})}, []string{"spec.limits[0].min[memory]: Invalid value"}},
		{"default above max", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Default, i.Max = list("cpu", "2"), list("cpu", "1")
		})}, []string{"spec.limits[0].default[cpu]: Invalid value"}},
		{"default request above default", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Default, i.DefaultRequest = list("cpu", "1"), list("cpu", "2")
		})}, []string{"spec.limits[0].defaultRequest[cpu]: Invalid value"}},
		{"min above default request", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Min, i.DefaultRequest = list("cpu", "1"), list("cpu", "500m")
		})}, []string{"spec.limits[0].defaultRequest[cpu]: Invalid value"}},
		{"ratio below one", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.MaxLimitRequestRatio = list("cpu", "500m")
		})}, []string{"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value"}},
		{"ratio above max/min", []corev1.LimitRangeItem{container(func(i *corev1.LimitRangeItem) {
			i.Min, i.Max, i.MaxLimitRequestRatio = list("cpu", "1"), list("cpu", "2"), list("cpu", "3")
		})}, []string{"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value"}},
		{"pod defaults", []corev1.LimitRangeItem{{Type: corev1.LimitTypePod, Default: list("cpu", "1"), DefaultRequest: list("cpu", "1")}},
			[]string{"spec.limits[0].default: Forbidden", "spec.limits[0].defaultRequest: Forbidden"}},
		{"duplicate type", []corev1.LimitRangeItem{{Type: corev1.LimitTypePod}, {Type: corev1.LimitTypePod}}, []string{"spec.limits[1].type: Duplicate value"}},
		{"unknown type", []corev1.LimitRangeItem{{Type: "Volume"}}, []string{"spec.limits[0].type: Invalid value"}},
		{"qualified type", []corev1.LimitRangeItem{{Type: "example.com/thing", Max: list("example.com/widgets", "3")}}, nil},
		{"pvc without storage bounds", []corev1.LimitRangeItem{{Type: corev1.LimitTypePersistentVolumeClaim}}, []string{"spec.limits[0].limits: Required value"}},
		{"pvc storage", []corev1.LimitRangeItem{{Type: corev1.LimitTypePersistentVolumeClaim, Max: list("storage", "10Gi")}}, nil},
		{"non-container resource on container", []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: list("storage", "10Gi")}},
			[]string{"spec.limits[0].max[storage]: Invalid value"}},
		{"unknown resource", []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: list("widgets", "1")}},
			[]string{"spec.limits[0].max[widgets]: Invalid value", "spec.limits[0].max[widgets]: Invalid value"}},
		{"extended resource must not overcommit", []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: list("example.com/gpu", "2"), DefaultRequest: list("example.com/gpu", "1")}},
			[]string{"spec.limits[0].defaultRequest[example.com/gpu]: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(ctx, lr(tc.items...)), tc.want...)
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, lr(tc.items...), lr()), tc.want...)
		})
	}
	errs := Resource().Validate(ctx, lr(container(func(i *corev1.LimitRangeItem) { i.Min, i.Max = list("memory", "2Gi"), list("memory", "1Gi") })))
	fieldtest.ExpectDetail(t, errs, "spec.limits[0].min[memory]", "min value 2Gi is greater than max value 1Gi")
}

func TestTable(t *testing.T) {
	r := Resource()
	l := lr()
	l.CreationTimestamp = metav1.NewTime(time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600)))
	cells := r.Cells(l)
	if len(cells) != len(r.Columns) || cells[0] != "limits" || cells[1] != "2025-03-04T04:06:07Z" || r.Columns[1].Name != "Created At" || r.Columns[1].Type != "date" {
		t.Errorf("cells = %v, columns = %+v", cells, r.Columns)
	}
}
