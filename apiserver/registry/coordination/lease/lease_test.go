package lease

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
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

func TestResource(t *testing.T) {
	r := Resource()
	if !r.AllowCreateOnUpdate {
		t.Errorf("leases must allow create on update, as in Kubernetes")
	}
	if r.Status != nil {
		t.Errorf("leases have no status subresource")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []string
	}{
		{"valid", coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr(int32(40)), LeaseTransitions: ptr(int32(0))}, nil},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr(int32(0))}, []string{"FieldValueInvalid spec.leaseDurationSeconds"}},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptr(int32(-1))}, []string{"FieldValueInvalid spec.leaseTransitions"}},
		{"unknown strategy", coordinationv1.LeaseSpec{Strategy: ptr(coordinationv1.CoordinatedLeaseStrategy("Youngest"))},
			[]string{"FieldValueNotSupported spec.strategy.strategy"}},
		{"custom strategy", coordinationv1.LeaseSpec{Strategy: ptr(coordinationv1.CoordinatedLeaseStrategy("example.com/fair"))}, nil},
		{"preferred holder without strategy", coordinationv1.LeaseSpec{PreferredHolder: ptr("node-2")},
			[]string{"FieldValueForbidden spec.preferredHolder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "kube-node-lease"}, Spec: tc.spec}
			checkErrs(t, validateCreate(context.Background(), l), tc.want)
		})
	}
}

func TestPrepareDropsGatedFields(t *testing.T) {
	l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		Strategy: ptr(coordinationv1.OldestEmulationVersion), PreferredHolder: ptr("a"),
	}}
	prepareForCreate(context.Background(), l)
	if l.Spec.Strategy != nil || l.Spec.PreferredHolder != nil {
		t.Errorf("create kept gated fields: %+v", l.Spec)
	}

	old := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptr(coordinationv1.OldestEmulationVersion)}}
	upd := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptr(coordinationv1.OldestEmulationVersion), PreferredHolder: ptr("b")}}
	prepareForUpdate(context.Background(), upd, old)
	if upd.Spec.Strategy == nil {
		t.Errorf("update dropped a strategy the stored lease already had")
	}
	if upd.Spec.PreferredHolder != nil {
		t.Errorf("update kept a new preferredHolder")
	}
}

func TestCells(t *testing.T) {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: metav1.NewTime(time.Now().Add(-10 * time.Second))},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}}
	if got, want := fmt.Sprint(cells(l)), fmt.Sprint([]interface{}{"node-1", "node-1", "10s"}); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	l.Spec.HolderIdentity = nil
	if got := cells(l)[1]; got != "" {
		t.Errorf("holder cell = %q, want empty", got)
	}
}
