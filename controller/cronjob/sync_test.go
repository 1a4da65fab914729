package cronjob

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

var t0 = time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)

func testCronJob(policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cj", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: batchv1.CronJobSpec{
			Schedule:          "*/5 * * * *",
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"a": "b"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
		Status: batchv1.CronJobStatus{LastScheduleTime: &metav1.Time{Time: t0.Add(-5 * time.Minute)}},
	}
}

// childJob is a Job the CronJob created at a time; finished adds a
// condition.
func childJob(cj *batchv1.CronJob, at time.Time, finished batchv1.JobConditionType) *batchv1.Job {
	j, _ := jobFromTemplate(cj, at)
	j.UID = types.UID("uid-" + j.Name)
	j.Status.StartTime = &metav1.Time{Time: at}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		if finished == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at.Add(time.Minute)}
		}
	}
	return j
}

type fixture struct {
	c      *Controller
	client *fake.Clientset
	events *record.FakeRecorder
}

func newFixture(t *testing.T, now time.Time, cj *batchv1.CronJob, jobs ...*batchv1.Job) *fixture {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := New(&controller.Shared{
		Client: client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return rec },
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.BatchV1().CronJobs(cj.Namespace).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(cj); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if _, err := client.BatchV1().Jobs(j.Namespace).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{c: c.(*Controller), client: client, events: rec}
}

func (f *fixture) eventReasons() []string {
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, strings.SplitN(e, " ", 3)[1])
		default:
			return out
		}
	}
}

func (f *fixture) cronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	cj, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

func (f *fixture) jobNames(t *testing.T) []string {
	t.Helper()
	list, err := f.client.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		out = append(out, j.Name)
	}
	sort.Strings(out)
	return out
}

func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

func TestConcurrencyPolicies(t *testing.T) {
	now := t0.Add(10 * time.Second) // 10:00 is due; 9:55's job still runs
	prev := t0.Add(-5 * time.Minute)
	prevName := jobName(testCronJob(""), prev)
	nextName := jobName(testCronJob(""), t0)
	for _, tc := range []struct {
		policy     batchv1.ConcurrencyPolicy
		wantJobs   []string
		wantActive []string
		wantEvents []string
	}{
		{batchv1.AllowConcurrent, []string{prevName, nextName}, []string{prevName, nextName}, []string{"SuccessfulCreate"}},
		{batchv1.ForbidConcurrent, []string{prevName}, []string{prevName}, []string{"JobAlreadyActive"}},
		{batchv1.ReplaceConcurrent, []string{nextName}, []string{nextName}, []string{"SuccessfulDelete", "SuccessfulCreate"}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			cj := testCronJob(tc.policy)
			running := childJob(cj, prev, "")
			ref := corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: "ns", Name: running.Name, UID: running.UID}
			cj.Status.Active = []corev1.ObjectReference{ref}
			f := newFixture(t, now, cj, running)
			if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
				t.Fatal(err)
			}
			if got := f.jobNames(t); !slices.Equal(got, tc.wantJobs) {
				t.Errorf("jobs %v, want %v", got, tc.wantJobs)
			}
			got := f.cronJob(t)
			if names := activeNames(got); !slices.Equal(names, tc.wantActive) {
				t.Errorf("active %v, want %v", names, tc.wantActive)
			}
			if events := f.eventReasons(); !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events %v, want %v", events, tc.wantEvents)
			}
			wantLast := prev
			if tc.policy != batchv1.ForbidConcurrent {
				wantLast = t0
			}
			if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(wantLast) {
				t.Errorf("lastScheduleTime %v, want %s", got.Status.LastScheduleTime, wantLast)
			}
		})
	}
}

func TestCreatedJob(t *testing.T) {
	cj := testCronJob(batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr.To("Europe/Paris")
	cj.Spec.Schedule = "0 11 * * *" // 11:00 in Paris is 10:00 UTC in winter
	cj.Status.LastScheduleTime = nil
	f := newFixture(t, t0.Add(time.Second), cj)
	if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	want := "cj-28935960" // 2025-01-06T10:00Z in minutes since the epoch
	j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), want, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job %s: %v (jobs %v)", want, err, f.jobNames(t))
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2025-01-06T11:00:00+01:00" {
		t.Errorf("scheduled-timestamp annotation %q, want the time in the CronJob's zone", got)
	}
	if j.Annotations["a"] != "b" || j.Labels["app"] != "x" {
		t.Errorf("template metadata not copied: %v %v", j.Labels, j.Annotations)
	}
	if !metav1.IsControlledBy(j, cj) || j.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("owner %v, spec %+v", j.OwnerReferences, j.Spec)
	}
	got := f.cronJob(t)
	if len(got.Status.Active) != 1 || got.Status.Active[0].Kind != "Job" || got.Status.Active[0].APIVersion != "batch/v1" || got.Status.Active[0].Name != want {
		t.Errorf("active %+v", got.Status.Active)
	}
}

func TestHistoryLimitsAndCompletedJobs(t *testing.T) {
	cj := testCronJob(batchv1.AllowConcurrent)
	cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](0)
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0}
	var jobs []*batchv1.Job
	for i, cond := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete, batchv1.JobComplete} {
		jobs = append(jobs, childJob(cj, t0.Add(time.Duration(i-4)*5*time.Minute), cond))
	}
	// The newest finished one is still in the active list.
	last := jobs[3]
	cj.Status.Active = []corev1.ObjectReference{{Kind: "Job", Namespace: "ns", Name: last.Name, UID: last.UID}}
	f := newFixture(t, t0.Add(time.Minute), cj, jobs...)
	if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	if got := f.jobNames(t); !slices.Equal(got, []string{last.Name}) {
		t.Errorf("jobs %v, want only the newest success %s", got, last.Name)
	}
	got := f.cronJob(t)
	if len(got.Status.Active) != 0 {
		t.Errorf("active %v, want none", got.Status.Active)
	}
	if got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Time.Equal(last.Status.CompletionTime.Time) {
		t.Errorf("lastSuccessfulTime %v, want %v", got.Status.LastSuccessfulTime, last.Status.CompletionTime)
	}
	events := f.eventReasons()
	deletes := 0
	for _, e := range events {
		if e == "SuccessfulDelete" {
			deletes++
		}
	}
	if deletes != 3 || !slices.Contains(events, "SawCompletedJob") {
		t.Errorf("events %v, want 3 SuccessfulDelete and SawCompletedJob", events)
	}
}

func TestMissedStartingDeadlineAndSuspend(t *testing.T) {
	cj := testCronJob(batchv1.AllowConcurrent)
	cj.Spec.StartingDeadlineSeconds = ptr.To[int64](200)
	// 10:00 was due; it is 10:03:30 (past 10:00 + 200s) and 10:05 has not
	// come: nothing runs.
	f := newFixture(t, t0.Add(3*time.Minute+30*time.Second), cj)
	if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	if jobs := f.jobNames(t); len(jobs) != 0 {
		t.Errorf("jobs %v created past the starting deadline", jobs)
	}
	if got := f.cronJob(t); !got.Status.LastScheduleTime.Time.Equal(t0.Add(-5 * time.Minute)) {
		t.Errorf("lastScheduleTime moved to %v", got.Status.LastScheduleTime)
	}

	cj = testCronJob(batchv1.AllowConcurrent)
	cj.Spec.Suspend = ptr.To(true)
	f = newFixture(t, t0.Add(time.Second), cj)
	if err := f.c.sync(context.Background(), "ns/cj"); err != nil {
		t.Fatal(err)
	}
	if jobs := f.jobNames(t); len(jobs) != 0 {
		t.Errorf("suspended cronjob created %v", jobs)
	}
}
