package statefulset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

var dbLabels = map[string]string{"app": "db"}

func valid() *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    appstest.Selector(dbLabels),
			Template:    appstest.PodTemplate(dbLabels, ""),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi"),
					}},
				},
			}},
		},
	}
	Default(s)
	return s
}

func TestDefault(t *testing.T) {
	s := valid()
	spec := s.Spec
	if spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
		t.Errorf("podManagementPolicy %q", spec.PodManagementPolicy)
	}
	if spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
		spec.UpdateStrategy.RollingUpdate == nil || ptr.Deref(spec.UpdateStrategy.RollingUpdate.Partition, -1) != 0 {
		t.Errorf("updateStrategy %+v", spec.UpdateStrategy)
	}
	wantPolicy := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil || *spec.PersistentVolumeClaimRetentionPolicy != wantPolicy {
		t.Errorf("retention policy %+v", spec.PersistentVolumeClaimRetentionPolicy)
	}
	if ptr.Deref(spec.Replicas, -1) != 1 || ptr.Deref(spec.RevisionHistoryLimit, -1) != 10 {
		t.Errorf("replicas %v history %v", spec.Replicas, spec.RevisionHistoryLimit)
	}
	claim := spec.VolumeClaimTemplates[0]
	if claim.Status.Phase != corev1.ClaimPending || ptr.Deref(claim.Spec.VolumeMode, "") != corev1.PersistentVolumeFilesystem {
		t.Errorf("claim template %+v", claim)
	}

	// OnDelete keeps rollingUpdate unset; an explicit RollingUpdate without
	// parameters is left as is, as in Kubernetes.
	onDelete := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
	Default(onDelete)
	if onDelete.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete got rollingUpdate %+v", onDelete.Spec.UpdateStrategy.RollingUpdate)
	}
	again := s.DeepCopy()
	Default(again)
	if !equality.Semantic.DeepEqual(again, s) {
		t.Error("Default is not idempotent")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"negative replicas", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](-1) }, field.ErrorTypeInvalid, "spec.replicas", ""},
		{"no selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = nil }, field.ErrorTypeRequired, "spec.selector", ""},
		{"empty selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for statefulset"},
		{"mismatch", func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = map[string]string{"app": "web"} },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"bad template label", func(s *appsv1.StatefulSet) { s.Spec.Template.Labels["bad key!"] = "x" },
			field.ErrorTypeInvalid, "spec.template.labels", ""},
		{"pod management", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" },
			field.ErrorTypeInvalid, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"},
		{"update strategy", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = "Sometimes" },
			field.ErrorTypeInvalid, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"},
		{"on delete with rolling update", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"},
		{"negative partition", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1) },
			field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.partition", ""},
		{"zero max unavailable", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		},
			field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0"},
		{"retention policy", func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			field.ErrorTypeNotSupported, "spec.persistentVolumeClaimRetentionPolicy.whenScaled", ""},
		{"negative ordinal", func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			field.ErrorTypeInvalid, "spec.ordinals.start", ""},
		{"restart never", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		{"active deadline", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) },
			field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in StatefulSet is not Supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(s)
			appstest.HasErrorDetail(t, Validate(s), tc.typ, tc.path, tc.detail)
		})
	}
	appstest.NoErrors(t, Validate(valid()))

	// Volumes fed by claim templates are not rejected as unknown volumes.
	s := valid()
	s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	appstest.NoErrors(t, Validate(s))

	if errs := Resource().ValidateName("db.primary", false); len(errs) == 0 {
		t.Error("a dotted name must be rejected: pods are named after the set")
	}
	if errs := Resource().ValidateName("db-0", false); len(errs) != 0 {
		t.Errorf("db-0: %v", errs)
	}
}

func TestValidateUpdate(t *testing.T) {
	old := valid()
	s := old.DeepCopy()
	s.Spec.Replicas = ptr.To[int32](5)
	s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
	s.Spec.MinReadySeconds = 10
	s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
	s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	appstest.NoErrors(t, ValidateUpdate(s, old))

	for name, mutate := range map[string]func(*appsv1.StatefulSet){
		"service name":    func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "other" },
		"claim templates": func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates = nil },
		"pod management":  func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement },
		"selector": func(s *appsv1.StatefulSet) {
			s.Spec.Selector = appstest.Selector(map[string]string{"app": "db", "x": "y"})
			s.Spec.Template.Labels = map[string]string{"app": "db", "x": "y"}
		},
	} {
		s := old.DeepCopy()
		mutate(s)
		errs := ValidateUpdate(s, old)
		appstest.HasErrorDetail(t, errs, field.ErrorTypeForbidden, "spec", "updates to statefulset spec for fields other than")
		if t.Failed() {
			t.Fatalf("case %s", name)
		}
	}
}

func TestStrategy(t *testing.T) {
	res := Resource()
	s := valid()
	s.Status.Replicas = 3
	s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	res.PrepareForCreate(context.Background(), s)
	if s.Generation != 1 || s.Status.Replicas != 0 {
		t.Errorf("create: generation %d status %+v", s.Generation, s.Status)
	}
	if s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil {
		t.Error("alpha maxUnavailable kept on create")
	}

	old := valid()
	old.Generation = 5
	old.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1}
	u := old.DeepCopy()
	u.Status.Replicas = 0
	u.Labels = map[string]string{"x": "y"}
	res.PrepareForUpdate(context.Background(), u, old)
	if u.Generation != 5 || u.Status.Replicas != 1 {
		t.Errorf("no-spec update: generation %d status %+v", u.Generation, u.Status)
	}
	u.Spec.Replicas = ptr.To[int32](2)
	res.PrepareForUpdate(context.Background(), u, old)
	if u.Generation != 6 {
		t.Errorf("spec update: generation %d", u.Generation)
	}

	// Status writes keep the spec and check counters.
	st := old.DeepCopy()
	st.Spec.Replicas = ptr.To[int32](9)
	st.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 2, CurrentReplicas: 1}
	res.Status.PrepareForUpdate(context.Background(), st, old)
	if *st.Spec.Replicas != 1 {
		t.Errorf("status write changed spec.replicas to %d", *st.Spec.Replicas)
	}
	errs := res.Status.ValidateUpdate(context.Background(), st, old)
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than status.replicas")
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than status.readyReplicas")
}

func TestTableAndScale(t *testing.T) {
	res := Resource()
	s := valid()
	s.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * 24 * time.Hour))
	s.Spec.Replicas = ptr.To[int32](3)
	s.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2}
	want := []interface{}{"db", "2/3", "2d", "web", "nginx:1.27"}
	if got := res.Cells(s); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	if len(res.Columns) != len(want) {
		t.Errorf("%d columns", len(res.Columns))
	}
	spec, status, sel := res.Scale.Get(s)
	if spec != 3 || status != 2 || sel != "app=db" {
		t.Errorf("scale %d %d %q", spec, status, sel)
	}
	res.Scale.Set(s, 1)
	if *s.Spec.Replicas != 1 {
		t.Errorf("Set(1) left %d", *s.Spec.Replicas)
	}
}
