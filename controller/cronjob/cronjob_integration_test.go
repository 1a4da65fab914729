package cronjob_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/cronjob"
	"berth/internal/testserver"
)

// fakeClock is the controller's clock, stepped by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type cluster struct {
	client kubernetes.Interface
	clock  *fakeClock
	ns     string
	// minute is the first scheduled time after the CronJobs' creation.
	minute time.Time
	ticks  int
}

// startCluster runs the CronJob controller alone, its clock 5 seconds past
// the next minute (so that an every-minute schedule is due at once).
func startCluster(t *testing.T) *cluster {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	minute := time.Now().Truncate(time.Minute).Add(time.Minute)
	clock := &fakeClock{now: minute.Add(5 * time.Second)}
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		withClock := *sh
		withClock.Now = clock.Now
		return cronjob.New(&withClock)
	})
	c := &cluster{client: s.Client, clock: clock, ns: "cron", minute: minute}
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) createCronJob(t *testing.T, name string, mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule: "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "hello", Image: "busybox"}},
			}}}},
		},
	}
	if mutate != nil {
		mutate(cj)
	}
	created, err := c.client.BatchV1().CronJobs(c.ns).Create(context.Background(), cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// tick moves the clock one minute on and pokes the CronJob so that it
// syncs now rather than at the real next minute.
func (c *cluster) tick(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	c.ticks++
	c.clock.Set(c.minute.Add(time.Duration(c.ticks)*time.Minute + 5*time.Second))
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/tick":"%d"}}}`, c.ticks)
	if _, err := c.client.BatchV1().CronJobs(c.ns).Patch(context.Background(), cj.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// jobName is the name of the Job of the minute n ticks after the first.
func (c *cluster) jobName(cj *batchv1.CronJob, n int) string {
	return fmt.Sprintf("%s-%d", cj.Name, c.minute.Add(time.Duration(n)*time.Minute).Unix()/60)
}

func poll(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) { return cond() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (c *cluster) jobs(t *testing.T) []string {
	t.Helper()
	list, err := c.client.BatchV1().Jobs(c.ns).List(context.Background(), metav1.ListOptions{})
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

func (c *cluster) waitJobs(t *testing.T, want ...string) {
	t.Helper()
	sort.Strings(want)
	poll(t, fmt.Sprintf("jobs %v", want), func() (bool, error) {
		return fmt.Sprint(c.jobs(t)) == fmt.Sprint(want), nil
	})
}

func (c *cluster) cronJob(t *testing.T, name string) *batchv1.CronJob {
	t.Helper()
	cj, err := c.client.BatchV1().CronJobs(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

// waitActive waits for the CronJob's active list to name exactly jobs.
func (c *cluster) waitActive(t *testing.T, cj *batchv1.CronJob, jobs ...string) *batchv1.CronJob {
	t.Helper()
	var got *batchv1.CronJob
	poll(t, fmt.Sprintf("active %v", jobs), func() (bool, error) {
		got = c.cronJob(t, cj.Name)
		var names []string
		for _, r := range got.Status.Active {
			names = append(names, r.Name)
		}
		return fmt.Sprint(names) == fmt.Sprint(jobs), nil
	})
	return got
}

// complete finishes a Job as the Job controller would.
func (c *cluster) complete(t *testing.T, name string, ok bool) {
	t.Helper()
	j, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := metav1.NewTime(j.CreationTimestamp.Time)
	now := metav1.Now()
	j.Status.StartTime = &start
	if ok {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	}
	if _, err := c.client.BatchV1().Jobs(c.ns).UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finish job %s: %v", name, err)
	}
}

func (c *cluster) waitEvent(t *testing.T, cj *batchv1.CronJob, reason, message string) {
	t.Helper()
	poll(t, fmt.Sprintf("event %s %q", reason, message), func() (bool, error) {
		list, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.UID == cj.UID && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestCronJobFiresAndForbids(t *testing.T) {
	c := startCluster(t)
	cj := c.createCronJob(t, "hello", func(cj *batchv1.CronJob) {
		cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
		cj.Spec.JobTemplate.Labels = map[string]string{"app": "hello"}
	})
	first := c.jobName(cj, 0)
	c.waitJobs(t, first)
	got := c.waitActive(t, cj, first)
	if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(c.minute) {
		t.Errorf("lastScheduleTime %v, want %s", got.Status.LastScheduleTime, c.minute)
	}
	j, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), first, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(j, cj) || j.Labels["app"] != "hello" {
		t.Errorf("job owner %v labels %v", j.OwnerReferences, j.Labels)
	}
	if ts := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; ts != c.minute.Local().Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp %q, want %q", ts, c.minute.Local().Format(time.RFC3339))
	}
	c.waitEvent(t, cj, "SuccessfulCreate", "Created job "+first)

	// A minute on, the first still runs: Forbid skips this time.
	c.tick(t, cj)
	c.waitEvent(t, cj, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
	if jobs := c.jobs(t); len(jobs) != 1 {
		t.Fatalf("jobs %v with Forbid, want only %s", jobs, first)
	}

	// Once it completes, the missed time runs, late.
	c.complete(t, first, true)
	c.waitEvent(t, cj, "SawCompletedJob", fmt.Sprintf("Saw completed job: %s, status: Complete", first))
	second := c.jobName(cj, 1)
	c.waitJobs(t, first, second)
	got = c.waitActive(t, cj, second)
	if got.Status.LastSuccessfulTime == nil {
		t.Error("lastSuccessfulTime not set")
	}
}

func TestCronJobReplace(t *testing.T) {
	c := startCluster(t)
	cj := c.createCronJob(t, "replace", func(cj *batchv1.CronJob) {
		cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	})
	first := c.jobName(cj, 0)
	c.waitActive(t, cj, first)
	c.tick(t, cj)
	second := c.jobName(cj, 1)
	c.waitJobs(t, second)
	c.waitActive(t, cj, second)
	c.waitEvent(t, cj, "SuccessfulDelete", "Deleted job "+first)
	c.waitEvent(t, cj, "SuccessfulCreate", "Created job "+second)
}

func TestCronJobHistoryLimits(t *testing.T) {
	c := startCluster(t)
	cj := c.createCronJob(t, "history", func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	})
	var names []string
	for i := 0; i < 4; i++ {
		if i > 0 {
			c.tick(t, cj)
		}
		name := c.jobName(cj, i)
		names = append(names, name)
		c.waitActive(t, cj, name)
		// Successes at 0, 1, 3; a failure at 2.
		c.complete(t, name, i != 2)
		c.waitActive(t, cj)
	}
	// One success and one failure are kept: the newest of each.
	c.waitJobs(t, names[2], names[3])
	got := c.cronJob(t, cj.Name)
	if got.Status.LastSuccessfulTime == nil {
		t.Error("lastSuccessfulTime not set")
	}
	for _, gone := range names[:2] {
		c.waitEvent(t, cj, "SuccessfulDelete", "Deleted job "+gone)
	}
}

func TestCronJobSuspended(t *testing.T) {
	c := startCluster(t)
	cj := c.createCronJob(t, "paused", func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) })
	c.tick(t, cj)
	// Nothing signals that a suspended CronJob was synced: give it time.
	time.Sleep(300 * time.Millisecond)
	if jobs := c.jobs(t); len(jobs) != 0 {
		t.Fatalf("suspended cronjob created %v", jobs)
	}
	// Resuming runs the latest missed time.
	got := c.cronJob(t, cj.Name)
	got.Spec.Suspend = ptr.To(false)
	if _, err := c.client.BatchV1().CronJobs(c.ns).Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitJobs(t, c.jobName(cj, 1))
}
