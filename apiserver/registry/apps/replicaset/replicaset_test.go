package replicaset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

var webLabels = map[string]string{"app": "web"}

func valid() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d9f", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Selector: appstest.Selector(webLabels),
			Template: appstest.PodTemplate(webLabels, ""),
		},
	}
	Default(rs)
	return rs
}

func TestDefault(t *testing.T) {
	rs := &appsv1.ReplicaSet{}
	Default(rs)
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", rs.Spec.Replicas)
	}
	rs.Spec.Replicas = ptr.To[int32](0)
	Default(rs)
	if *rs.Spec.Replicas != 0 {
		t.Errorf("explicit 0 replicas became %d", *rs.Spec.Replicas)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"negative replicas", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-3) }, field.ErrorTypeInvalid, "spec.replicas", ""},
		{"negative minReady", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -3 }, field.ErrorTypeInvalid, "spec.minReadySeconds", ""},
		{"no selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, field.ErrorTypeRequired, "spec.selector", ""},
		{"empty selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		{"mismatch", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = map[string]string{"app": "db"} },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart on failure", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		{"bad selector operator", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
		}, field.ErrorTypeInvalid, "spec.selector", "invalid label selector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := valid()
			tc.mutate(rs)
			appstest.HasErrorDetail(t, Validate(rs), tc.typ, tc.path, tc.detail)
		})
	}
	appstest.NoErrors(t, Validate(valid()))
}

func TestValidateUpdate(t *testing.T) {
	old := valid()
	rs := old.DeepCopy()
	rs.Spec.Replicas = ptr.To[int32](0)
	appstest.NoErrors(t, ValidateUpdate(rs, old))

	rs = old.DeepCopy()
	rs.Spec.Selector = appstest.Selector(map[string]string{"app": "web", "pod-template-hash": "1"})
	rs.Spec.Template.Labels = map[string]string{"app": "web", "pod-template-hash": "1"}
	appstest.HasErrorDetail(t, ValidateUpdate(rs, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
}

func TestStrategy(t *testing.T) {
	res := Resource()
	rs := valid()
	rs.Status.Replicas = 4
	rs.Generation = 4
	res.PrepareForCreate(context.Background(), rs)
	if rs.Generation != 1 || rs.Status.Replicas != 0 {
		t.Errorf("create: generation %d, status %+v", rs.Generation, rs.Status)
	}

	old := valid()
	old.Generation = 2
	old.Status = appsv1.ReplicaSetStatus{Replicas: 1, ObservedGeneration: 2}

	same := old.DeepCopy()
	same.Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
	same.Status.Replicas = 8
	res.PrepareForUpdate(context.Background(), same, old)
	if same.Generation != 2 || same.Status.Replicas != 1 {
		t.Errorf("metadata/status change: generation %d, status %+v", same.Generation, same.Status)
	}

	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](3)
	res.PrepareForUpdate(context.Background(), scaled, old)
	if scaled.Generation != 3 {
		t.Errorf("spec change: generation %d, want 3", scaled.Generation)
	}
}

func TestStatusUpdate(t *testing.T) {
	res := Resource()
	old := valid()
	rs := old.DeepCopy()
	rs.Spec.Replicas = ptr.To[int32](5)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, TerminatingReplicas: ptr.To[int32](2)}
	res.Status.PrepareForUpdate(context.Background(), rs, old)
	if *rs.Spec.Replicas != 1 || rs.Status.TerminatingReplicas != nil || rs.Status.Replicas != 1 {
		t.Errorf("spec %v status %+v", *rs.Spec.Replicas, rs.Status)
	}
	appstest.NoErrors(t, res.Status.ValidateUpdate(context.Background(), rs, old))

	rs.Status.FullyLabeledReplicas = 2
	rs.Status.ObservedGeneration = -1
	errs := res.Status.ValidateUpdate(context.Background(), rs, old)
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.fullyLabeledReplicas", "cannot be greater than status.replicas")
	appstest.HasError(t, errs, field.ErrorTypeInvalid, "status.observedGeneration")
}

func TestTableFieldsScale(t *testing.T) {
	res := Resource()
	rs := valid()
	rs.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * time.Hour))
	rs.Spec.Replicas = ptr.To[int32](3)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}
	want := []interface{}{"web-5d9f", int64(3), int64(3), int64(2), "3h", "web", "nginx:1.27", "app=web"}
	if got := res.Cells(rs); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	if len(res.Columns) != len(want) || res.Columns[1].Name != "Desired" || res.Columns[5].Priority != 1 {
		t.Errorf("columns %+v", res.Columns)
	}

	if got := res.Fields(rs); !equality.Semantic.DeepEqual(got, fields.Set{"status.replicas": "3"}) {
		t.Errorf("fields %v", got)
	}

	spec, status, sel := res.Scale.Get(rs)
	if spec != 3 || status != 3 || sel != "app=web" {
		t.Errorf("scale %d %d %q", spec, status, sel)
	}
	res.Scale.Set(rs, 0)
	if *rs.Spec.Replicas != 0 {
		t.Errorf("Set(0) left %d", *rs.Spec.Replicas)
	}
	if res.ShortNames[0] != "rs" || res.Kind != "ReplicaSet" {
		t.Errorf("names %v %s", res.ShortNames, res.Kind)
	}
}
