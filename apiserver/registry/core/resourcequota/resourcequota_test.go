package resourcequota

import (
	"context"
	"slices"
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

func quota(hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "default", ResourceVersion: "5"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes},
	}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "resourcequotas" || r.ShortNames[0] != "quota" || r.Status == nil {
		t.Fatalf("unexpected resource description: %+v", r)
	}
}

func TestStatusResetAndKept(t *testing.T) {
	r := Resource()
	q := quota(list("pods", "10"))
	q.Status.Used = list("pods", "3")
	r.PrepareForCreate(ctx, q)
	if q.Status.Used != nil || q.Status.Hard != nil {
		t.Errorf("status not reset on create: %+v", q.Status)
	}
	old := quota(list("pods", "10"))
	old.Status = corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "3")}
	upd := quota(list("pods", "20"))
	r.PrepareForUpdate(ctx, upd, old)
	if u := upd.Status.Used[corev1.ResourcePods]; u.Value() != 3 {
		t.Errorf("status not kept on update: %+v", upd.Status)
	}
}

func TestDefaultRoundsUp(t *testing.T) {
	q := quota(list("cpu", "0.0001"))
	Resource().Default(q)
	if c := q.Spec.Hard[corev1.ResourceCPU]; c.String() != "1m" {
		t.Errorf("cpu = %s", c.String())
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		q    *corev1.ResourceQuota
		want []string
	}{
		{"compute and objects", quota(list("requests.cpu", "1", "limits.memory", "2Gi", "pods", "10", "count/deployments.apps", "5", "requests.nvidia.com/gpu", "2")), nil},
		{"negative", quota(list("cpu", "-1")), []string{"spec.hard[cpu]: Invalid value"}},
		{"fractional count", quota(list("pods", "1.5")), []string{"spec.hard[pods]: Invalid value"}},
		{"unknown short name", quota(list("widgets", "1")), []string{"spec.hard[widgets]: Invalid value", "spec.hard[widgets]: Invalid value"}},
		{"bad name", quota(list("a b", "1")), []string{"spec.hard[a b]: Invalid value", "spec.hard[a b]: Invalid value"}},
		{"best effort pods", quota(list("pods", "5"), corev1.ResourceQuotaScopeBestEffort), nil},
		{"best effort cpu", quota(list("cpu", "5"), corev1.ResourceQuotaScopeBestEffort), []string{"spec.scopes: Invalid value"}},
		{"terminating storage", quota(list("requests.storage", "5Gi"), corev1.ResourceQuotaScopeTerminating), []string{"spec.scopes: Invalid value"}},
		{"unknown scope", quota(list("pods", "5"), "Sometimes"), []string{"spec.scopes: Invalid value"}},
		{"conflicting scopes", quota(list("pods", "5"), corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort), []string{"spec.scopes: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(ctx, tc.q), tc.want...)
		})
	}
	errs := Resource().Validate(ctx, quota(list("pods", "5"), corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort))
	fieldtest.ExpectDetail(t, errs, "spec.scopes", "conflicting scopes")
}

func TestValidateScopeSelector(t *testing.T) {
	sel := func(reqs ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		q := quota(list("pods", "5"))
		q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: reqs}
		return q
	}
	tests := []struct {
		name string
		q    *corev1.ResourceQuota
		want []string
	}{
		{"priority class in", sel(corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}), nil},
		{"in without values", sel(corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn}),
			[]string{"spec.scopeSelector.matchExpressions.values: Required value"}},
		{"best effort must use exists", sel(corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpIn, Values: []string{"x"}}),
			[]string{"spec.scopeSelector.matchExpressions.operator: Invalid value"}},
		{"exists with values", sel(corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeTerminating, Operator: corev1.ScopeSelectorOpExists, Values: []string{"x"}}),
			[]string{"spec.scopeSelector.matchExpressions.values: Invalid value"}},
		{"bad operator and scope", sel(corev1.ScopedResourceSelectorRequirement{ScopeName: "Nope", Operator: "Maybe"}),
			[]string{"spec.scopeSelector.matchExpressions.scopeName: Invalid value", "spec.scopeSelector.matchExpressions.operator: Invalid value"}},
		{"conflicting", sel(
			corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeTerminating, Operator: corev1.ScopeSelectorOpExists},
			corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeNotTerminating, Operator: corev1.ScopeSelectorOpExists},
		), []string{"spec.scopeSelector.matchExpressions: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fieldtest.Expect(t, Resource().Validate(ctx, tc.q), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := quota(list("pods", "5"), corev1.ResourceQuotaScopeBestEffort)
	fieldtest.Expect(t, Resource().ValidateUpdate(ctx, quota(list("pods", "50"), corev1.ResourceQuotaScopeBestEffort), old))
	errs := Resource().ValidateUpdate(ctx, quota(list("pods", "5")), old)
	fieldtest.Expect(t, errs, "spec.scopes: Invalid value")
	fieldtest.ExpectDetail(t, errs, "spec.scopes", "field is immutable")
}

func TestValidateStatus(t *testing.T) {
	q := quota(list("pods", "5"))
	q.Status = corev1.ResourceQuotaStatus{Hard: list("pods", "5"), Used: list("pods", "-1")}
	fieldtest.Expect(t, Resource().Status.ValidateUpdate(ctx, q, quota(nil)), "status.used[pods]: Invalid value")
	q.Status.Used = list("pods", "2")
	fieldtest.Expect(t, Resource().Status.ValidateUpdate(ctx, q, quota(nil)))
}

func TestTable(t *testing.T) {
	r := Resource()
	q := quota(nil)
	q.CreationTimestamp = metav1.NewTime(time.Now().Add(-4 * time.Minute))
	q.Status = corev1.ResourceQuotaStatus{
		Hard: list("pods", "10", "requests.cpu", "2", "limits.memory", "4Gi", "limits.cpu", "4"),
		Used: list("pods", "1", "requests.cpu", "500m", "limits.cpu", "1"),
	}
	want := []interface{}{"compute", "4m", "pods: 1/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/4Gi"}
	if got := r.Cells(q); len(got) != len(r.Columns) || !slices.Equal(got, want) {
		t.Errorf("cells = %q, want %q", got, want)
	}
	if got := r.Cells(quota(nil)); got[2] != "" || got[3] != "" {
		t.Errorf("cells of an empty quota = %q", got)
	}
}
