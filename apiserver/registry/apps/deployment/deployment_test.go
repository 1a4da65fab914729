package deployment

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

var webLabels = map[string]string{"app": "web"}

// valid returns a defaulted Deployment that passes validation.
func valid() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: appstest.Selector(webLabels),
			Template: appstest.PodTemplate(webLabels, ""),
		},
	}
	Default(d)
	return d
}

func TestDefault(t *testing.T) {
	d := &appsv1.Deployment{}
	Default(d)
	want := appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1),
		Strategy: appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")),
				MaxSurge:       ptr.To(intstr.FromString("25%")),
			},
		},
		RevisionHistoryLimit:    ptr.To[int32](10),
		ProgressDeadlineSeconds: ptr.To[int32](600),
	}
	got := d.Spec
	got.Template = appsv1.DeploymentSpec{}.Template // pod defaults are tested elsewhere
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}

	// Defaults are idempotent and keep what is set.
	again := d.DeepCopy()
	Default(again)
	if !equality.Semantic.DeepEqual(again, d) {
		t.Error("Default is not idempotent")
	}
	r := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	Default(r)
	if *r.Spec.Replicas != 0 || r.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate with 0 replicas changed: %+v", r.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) },
			field.ErrorTypeInvalid, "spec.replicas", "must be greater than or equal to 0"},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			field.ErrorTypeRequired, "spec.selector", ""},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Selector = appstest.Selector(map[string]string{"app": "db"}) },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		{"active deadline", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) },
			field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"},
		{"surge and unavailable zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("0%"))
		}, field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"},
		{"unavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("120%"))
		},
			field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"},
		{"negative surge", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-2)) },
			field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", ""},
		{"bad percent", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("two")) },
			field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", ""},
		{"recreate with rolling update", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			field.ErrorTypeForbidden, "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			field.ErrorTypeNotSupported, "spec.strategy", ""},
		{"negative history", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			field.ErrorTypeInvalid, "spec.revisionHistoryLimit", ""},
		{"deadline not above minReady", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			field.ErrorTypeInvalid, "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"},
		{"negative minReady", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 },
			field.ErrorTypeInvalid, "spec.minReadySeconds", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := valid()
			tc.mutate(d)
			errs := Validate(d)
			appstest.HasErrorDetail(t, errs, tc.typ, tc.path, tc.detail)
		})
	}
	appstest.NoErrors(t, Validate(valid()))

	// Zero replicas, a zero history and maxUnavailable 0 with a surge are fine.
	d := valid()
	d.Spec.Replicas = ptr.To[int32](0)
	d.Spec.RevisionHistoryLimit = ptr.To[int32](0)
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
	appstest.NoErrors(t, Validate(d))
}

func TestValidateUpdate(t *testing.T) {
	old := valid()
	d := old.DeepCopy()
	d.Spec.Replicas = ptr.To[int32](5)
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	appstest.NoErrors(t, ValidateUpdate(d, old))

	d = old.DeepCopy()
	d.Spec.Selector = appstest.Selector(map[string]string{"app": "web", "tier": "front"})
	d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	appstest.HasErrorDetail(t, ValidateUpdate(d, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
}

func TestPrepareForCreate(t *testing.T) {
	d := valid()
	d.Generation = 7
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3}
	Resource().PrepareForCreate(context.Background(), d)
	if d.Generation != 1 {
		t.Errorf("generation %d, want 1", d.Generation)
	}
	if !equality.Semantic.DeepEqual(d.Status, appsv1.DeploymentStatus{}) {
		t.Errorf("status not reset: %+v", d.Status)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	res := Resource()
	old := valid()
	old.Generation = 3
	old.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 1}
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   int64
	}{
		{"no change", func(*appsv1.Deployment) {}, 3},
		{"spec", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](4) }, 4},
		{"annotation", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"a": "b"} }, 4},
		{"label", func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"} }, 3},
		{"status only", func(d *appsv1.Deployment) { d.Status.Replicas = 9 }, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := old.DeepCopy()
			tc.mutate(d)
			res.PrepareForUpdate(context.Background(), d, old)
			if d.Generation != tc.want {
				t.Errorf("generation %d, want %d", d.Generation, tc.want)
			}
			if !equality.Semantic.DeepEqual(d.Status, old.Status) {
				t.Errorf("status changed by a main-resource update: %+v", d.Status)
			}
		})
	}
}

func TestStatusUpdate(t *testing.T) {
	res := Resource()
	old := valid()
	old.Labels = map[string]string{"team": "a"}
	old.Status.CollisionCount = ptr.To[int32](2)

	d := old.DeepCopy()
	d.Spec.Replicas = ptr.To[int32](9)
	d.Labels = map[string]string{"team": "b"}
	d.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, CollisionCount: ptr.To[int32](2), TerminatingReplicas: ptr.To[int32](1)}
	res.Status.PrepareForUpdate(context.Background(), d, old)
	if *d.Spec.Replicas != 1 || d.Labels["team"] != "a" {
		t.Errorf("status update changed spec or labels: %+v %v", d.Spec.Replicas, d.Labels)
	}
	if d.Status.Replicas != 2 || d.Status.TerminatingReplicas != nil {
		t.Errorf("status %+v", d.Status)
	}
	appstest.NoErrors(t, res.Status.ValidateUpdate(context.Background(), d, old))

	bad := d.DeepCopy()
	bad.Status.AvailableReplicas = 3
	bad.Status.CollisionCount = ptr.To[int32](1)
	bad.Status.UpdatedReplicas = -1
	errs := res.Status.ValidateUpdate(context.Background(), bad, old)
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than status.replicas")
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than readyReplicas")
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.collisionCount", "cannot be decremented")
	appstest.HasError(t, errs, field.ErrorTypeInvalid, "status.updatedReplicas")
}

func TestTable(t *testing.T) {
	res := Resource()
	d := valid()
	d.CreationTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Minute))
	d.Spec.Replicas = ptr.To[int32](3)
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "log", Image: "busybox"})
	d.Status = appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 1}
	got := res.Cells(d)
	want := []interface{}{"web", "2/3", int64(3), int64(1), "5m", "web,log", "nginx:1.27,busybox", "app=web"}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	if len(res.Columns) != len(want) {
		t.Fatalf("%d columns for %d cells", len(res.Columns), len(want))
	}
	var names []string
	for _, c := range res.Columns {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	if !equality.Semantic.DeepEqual(names, []string{"Name", "Ready", "Up-to-date", "Available", "Age"}) {
		t.Errorf("columns %v", names)
	}
}

func TestScale(t *testing.T) {
	res := Resource()
	d := valid()
	d.Spec.Replicas = ptr.To[int32](3)
	d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}
	d.Status.Replicas = 2
	spec, status, sel := res.Scale.Get(d)
	if spec != 3 || status != 2 || sel != "app=web,tier in (a,b)" {
		t.Errorf("scale %d %d %q", spec, status, sel)
	}
	res.Scale.Set(d, 7)
	if *d.Spec.Replicas != 7 {
		t.Errorf("replicas %d after Set(7)", *d.Spec.Replicas)
	}
}

func TestNames(t *testing.T) {
	res := Resource()
	if res.GroupVersionKind().String() != "apps/v1, Kind=Deployment" || res.ShortNames[0] != "deploy" || res.Categories[0] != "all" || !res.Namespaced {
		t.Errorf("names: %+v", res)
	}
	if _, ok := res.New().(*appsv1.Deployment); !ok {
		t.Error("New is not a Deployment")
	}
	if _, ok := res.NewList().(*appsv1.DeploymentList); !ok {
		t.Error("NewList is not a DeploymentList")
	}
}
