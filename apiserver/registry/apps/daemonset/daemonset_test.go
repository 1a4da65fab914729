package daemonset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

var agentLabels = map[string]string{"app": "agent"}

func valid() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: appstest.Selector(agentLabels),
			Template: appstest.PodTemplate(agentLabels, ""),
		},
	}
	Default(ds)
	return ds
}

func TestDefault(t *testing.T) {
	ds := &appsv1.DaemonSet{}
	Default(ds)
	want := appsv1.DaemonSetUpdateStrategy{
		Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			MaxSurge:       ptr.To(intstr.FromInt32(0)),
		},
	}
	if !equality.Semantic.DeepEqual(ds.Spec.UpdateStrategy, want) {
		t.Errorf("updateStrategy %+v", ds.Spec.UpdateStrategy)
	}
	if ptr.Deref(ds.Spec.RevisionHistoryLimit, -1) != 10 {
		t.Errorf("revisionHistoryLimit %v", ds.Spec.RevisionHistoryLimit)
	}
	onDelete := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}
	Default(onDelete)
	if onDelete.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Error("OnDelete got a rollingUpdate")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"no selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"empty selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for daemonset"},
		{"mismatch", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = map[string]string{"app": "x"} },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", ""},
		{"restart on failure", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		{"both non-zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("10%"))
		},
			field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"},
		{"both zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		},
			field.ErrorTypeRequired, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"},
		{"surge over 100%", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("150%"))
		}, field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxSurge", "must not be greater than 100%"},
		{"rolling update missing", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil },
			field.ErrorTypeRequired, "spec.updateStrategy.rollingUpdate", ""},
		{"unknown strategy", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Blue" },
			field.ErrorTypeNotSupported, "spec.updateStrategy", ""},
		{"negative minReady", func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = -1 },
			field.ErrorTypeInvalid, "spec.minReadySeconds", ""},
		{"bad template generation", func(ds *appsv1.DaemonSet) {
			ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "one"}
		}, field.ErrorTypeInvalid, "metadata.annotations[deprecated.daemonset.template.generation]", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := valid()
			tc.mutate(ds)
			appstest.HasErrorDetail(t, Validate(ds), tc.typ, tc.path, tc.detail)
		})
	}
	appstest.NoErrors(t, Validate(valid()))

	surge := valid()
	surge.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
	surge.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
	appstest.NoErrors(t, Validate(surge))
}

func TestValidateUpdate(t *testing.T) {
	old := valid()
	ds := old.DeepCopy()
	ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
	appstest.NoErrors(t, ValidateUpdate(ds, old))

	ds = old.DeepCopy()
	ds.Spec.Selector = appstest.Selector(map[string]string{"app": "agent", "v": "2"})
	ds.Spec.Template.Labels = map[string]string{"app": "agent", "v": "2"}
	appstest.HasErrorDetail(t, ValidateUpdate(ds, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
}

func TestStrategy(t *testing.T) {
	res := Resource()
	ctx := context.Background()

	ds := valid()
	ds.Status.NumberReady = 3
	res.PrepareForCreate(ctx, ds)
	if ds.Generation != 1 || ds.Status.NumberReady != 0 {
		t.Errorf("create: generation %d status %+v", ds.Generation, ds.Status)
	}
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
		t.Errorf("template generation %q, want 1", got)
	}

	cases := []struct {
		name           string
		mutate         func(*appsv1.DaemonSet)
		gen            int64
		templateGen    string
		keepAnnotation bool
	}{
		{"nothing", func(*appsv1.DaemonSet) {}, 1, "1", false},
		{"user edits template generation", func(d *appsv1.DaemonSet) {
			d.Annotations[appsv1.DeprecatedTemplateGeneration] = "9"
		}, 1, "1", false},
		{"other annotation", func(d *appsv1.DaemonSet) { d.Annotations["note"] = "x" }, 1, "1", true},
		{"min ready", func(d *appsv1.DaemonSet) { d.Spec.MinReadySeconds = 5 }, 2, "1", false},
		{"template", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "agent:2" }, 2, "2", false},
		{"status", func(d *appsv1.DaemonSet) { d.Status.NumberReady = 4 }, 1, "1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := ds.DeepCopy()
			tc.mutate(u)
			res.PrepareForUpdate(ctx, u, ds)
			if u.Generation != tc.gen {
				t.Errorf("generation %d, want %d", u.Generation, tc.gen)
			}
			if got := u.Annotations[appsv1.DeprecatedTemplateGeneration]; got != tc.templateGen {
				t.Errorf("template generation %q, want %q", got, tc.templateGen)
			}
			if tc.keepAnnotation && u.Annotations["note"] != "x" {
				t.Error("user annotation lost")
			}
			if u.Status.NumberReady != 0 {
				t.Errorf("status changed: %+v", u.Status)
			}
			if ds.Annotations[appsv1.DeprecatedTemplateGeneration] != "1" {
				t.Error("old object modified")
			}
		})
	}

	// A template generation given at creation is kept if at least 1.
	given := valid()
	given.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "4"}
	res.PrepareForCreate(ctx, given)
	if given.Annotations[appsv1.DeprecatedTemplateGeneration] != "4" {
		t.Errorf("given template generation replaced: %v", given.Annotations)
	}
}

func TestStatus(t *testing.T) {
	res := Resource()
	old := valid()
	old.Status.CollisionCount = ptr.To[int32](1)
	ds := old.DeepCopy()
	ds.Spec.MinReadySeconds = 30
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberMisscheduled: -1}
	res.Status.PrepareForUpdate(context.Background(), ds, old)
	if ds.Spec.MinReadySeconds != 0 {
		t.Error("status write changed the spec")
	}
	errs := res.Status.ValidateUpdate(context.Background(), ds, old)
	appstest.HasError(t, errs, field.ErrorTypeInvalid, "status.numberMisscheduled")
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.collisionCount", "cannot be decremented")
}

func TestTable(t *testing.T) {
	res := Resource()
	ds := valid()
	ds.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}
	want := []interface{}{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "90s", "web", "nginx:1.27", "app=agent"}
	if got := res.Cells(ds); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	if len(res.Columns) != len(want) || res.Columns[6].Name != "Node Selector" {
		t.Errorf("columns %+v", res.Columns)
	}
	ds.Spec.Template.Spec.NodeSelector = nil
	if got := res.Cells(ds)[6]; got != "<none>" {
		t.Errorf("empty node selector cell %q", got)
	}
	if res.Scale != nil || res.Status == nil || res.ShortNames[0] != "ds" {
		t.Error("daemonsets have status but no scale subresource, short name ds")
	}
}
