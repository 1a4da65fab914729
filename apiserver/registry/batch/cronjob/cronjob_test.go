package cronjob

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

func valid() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{Template: appstest.PodTemplate(nil, corev1.RestartPolicyOnFailure)},
			},
		},
	}
	Default(cj)
	return cj
}

func TestDefault(t *testing.T) {
	cj := valid()
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || ptr.Deref(s.Suspend, true) ||
		ptr.Deref(s.SuccessfulJobsHistoryLimit, 0) != 3 || ptr.Deref(s.FailedJobsHistoryLimit, 0) != 1 {
		t.Errorf("spec %+v", s)
	}
	// The job template is not defaulted as a Job.
	js := s.JobTemplate.Spec
	if js.Completions != nil || js.Parallelism != nil || js.BackoffLimit != nil || js.ManualSelector != nil {
		t.Errorf("job template got Job defaults: %+v", js)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, field.ErrorTypeRequired, "spec.schedule", ""},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every minute" },
			field.ErrorTypeInvalid, "spec.schedule", "expected exactly 5 fields, found 2: [every minute]"},
		{"out of range", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 25 * * *" },
			field.ErrorTypeInvalid, "spec.schedule", "end of range (25) above maximum (23): 25"},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" },
			field.ErrorTypeInvalid, "spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		{"empty time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("") },
			field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be nil or non-empty string"},
		{"local time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") },
			field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be an explicit time zone"},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") },
			field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone Mars/Olympus"},
		{"path-like time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("../etc/passwd") },
			field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone ../etc/passwd"},
		{"concurrency", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" },
			field.ErrorTypeNotSupported, "spec.concurrencyPolicy", ""},
		{"negative deadline", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1) },
			field.ErrorTypeInvalid, "spec.startingDeadlineSeconds", ""},
		{"negative history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) },
			field.ErrorTypeInvalid, "spec.failedJobsHistoryLimit", ""},
		{"long name", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("b", 53) },
			field.ErrorTypeInvalid, "metadata.name", "must be no more than 52 characters"},
		{"restart always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		},
			field.ErrorTypeRequired, "spec.jobTemplate.spec.template.spec.restartPolicy", ""},
		{"selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = appstest.Selector(map[string]string{"a": "b"})
		},
			field.ErrorTypeInvalid, "spec.jobTemplate.spec.selector", "`selector` will be auto-generated"},
		{"manual selector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true) },
			field.ErrorTypeNotSupported, "spec.jobTemplate.spec.manualSelector", ""},
		{"negative job parallelism", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Parallelism = ptr.To[int32](-1) },
			field.ErrorTypeInvalid, "spec.jobTemplate.spec.parallelism", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := valid()
			tc.mutate(cj)
			appstest.HasErrorDetail(t, Validate(cj), tc.typ, tc.path, tc.detail)
		})
	}
	appstest.NoErrors(t, Validate(valid()))

	tz := valid()
	tz.Spec.TimeZone = ptr.To("America/New_York")
	tz.Spec.Schedule = "@daily"
	tz.Name = strings.Repeat("b", 52)
	appstest.NoErrors(t, Validate(tz))
}

func TestValidateUpdate(t *testing.T) {
	// Old CronJobs with TZ= in their schedule stay updatable, but cannot
	// add a timeZone as well.
	old := valid()
	old.Spec.Schedule = "TZ=UTC 0 * * * *"
	cj := old.DeepCopy()
	cj.Spec.Suspend = ptr.To(true)
	appstest.NoErrors(t, ValidateUpdate(cj, old))
	cj.Spec.TimeZone = ptr.To("UTC")
	appstest.HasErrorDetail(t, ValidateUpdate(cj, old), field.ErrorTypeInvalid, "spec.schedule", "cannot use both timeZone field and TZ or CRON_TZ in schedule")

	plain := valid()
	cj = plain.DeepCopy()
	cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *"
	appstest.HasErrorDetail(t, ValidateUpdate(cj, plain), field.ErrorTypeInvalid, "spec.schedule", "use timeZone field instead")

	// Long names are tolerated on update.
	long := valid()
	long.Name = strings.Repeat("c", 60)
	cj = long.DeepCopy()
	cj.Spec.Schedule = "@hourly"
	appstest.NoErrors(t, ValidateUpdate(cj, long))
}

func TestStrategy(t *testing.T) {
	res := Resource()
	ctx := context.Background()
	cj := valid()
	cj.Status.Active = []corev1.ObjectReference{{Name: "x"}}
	res.PrepareForCreate(ctx, cj)
	if cj.Generation != 1 || cj.Status.Active != nil {
		t.Errorf("create: generation %d status %+v", cj.Generation, cj.Status)
	}

	old := cj.DeepCopy()
	old.Status.LastScheduleTime = ptr.To(metav1.Now())
	u := old.DeepCopy()
	u.Status.LastScheduleTime = nil
	u.Annotations = map[string]string{"a": "b"}
	res.PrepareForUpdate(ctx, u, old)
	if u.Generation != 1 || u.Status.LastScheduleTime == nil {
		t.Errorf("metadata update: generation %d status %+v", u.Generation, u.Status)
	}
	u.Spec.Schedule = "@hourly"
	res.PrepareForUpdate(ctx, u, old)
	if u.Generation != 2 {
		t.Errorf("schedule change: generation %d", u.Generation)
	}

	st := old.DeepCopy()
	st.Spec.Schedule = "@yearly"
	st.Status.Active = []corev1.ObjectReference{{Name: "backup-1"}}
	res.Status.PrepareForUpdate(ctx, st, old)
	if st.Spec.Schedule != old.Spec.Schedule || len(st.Status.Active) != 1 {
		t.Errorf("status write: schedule %q status %+v", st.Spec.Schedule, st.Status)
	}
}

func TestTable(t *testing.T) {
	res := Resource()
	cj := valid()
	cj.CreationTimestamp = metav1.NewTime(time.Now().Add(-26 * time.Hour))
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(time.Now().Add(-40 * time.Second)))
	cj.Status.Active = []corev1.ObjectReference{{Name: "backup-1"}}
	want := []interface{}{"backup", "*/5 * * * *", "<none>", "False", int64(1), "40s", "26h", "web", "nginx:1.27", "<none>"}
	if got := res.Cells(cj); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	var names []string
	for _, c := range res.Columns {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	if !equality.Semantic.DeepEqual(names, []string{"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"}) {
		t.Errorf("columns %v", names)
	}
	cj.Spec.TimeZone = ptr.To("Etc/UTC")
	cj.Spec.Suspend = ptr.To(true)
	cj.Status.LastScheduleTime = nil
	got := res.Cells(cj)
	if got[2] != "Etc/UTC" || got[3] != "True" || got[5] != "<none>" {
		t.Errorf("cells %#v", got)
	}
	if res.ShortNames[0] != "cj" || res.Scale != nil {
		t.Error("cronjobs: short name cj, no scale")
	}
}
