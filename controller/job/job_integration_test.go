package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/job"
	"berth/internal/testserver"
)

// cluster is a control plane running only the Job controller.
type cluster struct {
	client kubernetes.Interface
	ns     string
}

func startCluster(t *testing.T, cfg job.Config) *cluster {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	if cfg.SyncBatchPeriod == 0 {
		cfg.SyncBatchPeriod = 50 * time.Millisecond
	}
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return job.NewWithConfig(sh, cfg)
	})
	c := &cluster{client: s.Client, ns: "jobs"}
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func newJob(name string, mutate func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
				},
			},
		},
	}
	if mutate != nil {
		mutate(j)
	}
	return j
}

func (c *cluster) createJob(t *testing.T, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	created, err := c.client.BatchV1().Jobs(c.ns).Create(context.Background(), j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return created
}

// poll waits up to 20s for cond.
func poll(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// pods lists the Job's pods, all or only those not finished or deleted.
func (c *cluster) pods(t *testing.T, j *batchv1.Job, activeOnly bool) []corev1.Pod {
	t.Helper()
	list, err := c.client.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: batchv1.ControllerUidLabel + "=" + string(j.UID),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if activeOnly && (p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (c *cluster) waitActivePods(t *testing.T, j *batchv1.Job, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	poll(t, fmt.Sprintf("%d active pods of %s", n, j.Name), func() (bool, error) {
		pods = c.pods(t, j, true)
		return len(pods) == n, nil
	})
	return pods
}

// finish sets a pod's phase, as a kubelet would.
func (c *cluster) finish(t *testing.T, p corev1.Pod, phase corev1.PodPhase, exitCode int32) {
	t.Helper()
	now := metav1.Now()
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "main", Image: "busybox",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, StartedAt: now, FinishedAt: now}},
	}}
	if _, err := c.client.CoreV1().Pods(c.ns).UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set pod %s %s: %v", p.Name, phase, err)
	}
}

func (c *cluster) waitCondition(t *testing.T, j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var got *batchv1.Job
	poll(t, fmt.Sprintf("condition %s of %s", ct, j.Name), func() (bool, error) {
		var err error
		got, err = c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return condition(got, ct) != nil, nil
	})
	return got
}

func condition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == ct && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// events returns "Reason: message" of the Job's events.
func (c *cluster) events(t *testing.T, j *batchv1.Job) []string {
	t.Helper()
	list, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == j.UID {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func (c *cluster) waitEvent(t *testing.T, j *batchv1.Job, want string) {
	t.Helper()
	poll(t, "event "+want, func() (bool, error) {
		for _, e := range c.events(t, j) {
			if e == want {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestJobCompletesWithParallelism(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("pi", func(j *batchv1.Job) {
		j.Spec.Completions = ptr.To[int32](3)
		j.Spec.Parallelism = ptr.To[int32](2)
	}))

	pods := c.waitActivePods(t, j, 2)
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "pi-") || p.GenerateName != "pi-" {
			t.Errorf("pod name %q (generateName %q), want pi-xxxxx", p.Name, p.GenerateName)
		}
		if !metav1.IsControlledBy(&p, j) {
			t.Errorf("pod %s not controlled by the job: %v", p.Name, p.OwnerReferences)
		}
		if len(p.Finalizers) != 1 || p.Finalizers[0] != batchv1.JobTrackingFinalizer {
			t.Errorf("pod %s finalizers %v, want the tracking finalizer", p.Name, p.Finalizers)
		}
	}
	poll(t, "active=2 ready=0 in status", func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		return err == nil && got.Status.Active == 2 && ptr.Deref(got.Status.Ready, -1) == 0 &&
			ptr.Deref(got.Status.Terminating, -1) == 0 && got.Status.StartTime != nil, err
	})

	// One succeeds: one more pod is created, never more than 2 at once.
	c.finish(t, pods[0], corev1.PodSucceeded, 0)
	poll(t, "the succeeded pod counted", func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		return err == nil && got.Status.Succeeded == 1, err
	})
	pods = c.waitActivePods(t, j, 2)
	if all := c.pods(t, j, false); len(all) != 3 {
		t.Fatalf("%d pods, want 3", len(all))
	}
	for _, p := range pods {
		c.finish(t, p, corev1.PodSucceeded, 0)
	}
	got := c.waitCondition(t, j, batchv1.JobComplete)

	if got.Status.Succeeded != 3 || got.Status.Failed != 0 || got.Status.Active != 0 {
		t.Errorf("status succeeded=%d failed=%d active=%d, want 3/0/0", got.Status.Succeeded, got.Status.Failed, got.Status.Active)
	}
	if got.Status.CompletionTime == nil || got.Status.StartTime == nil {
		t.Errorf("startTime %v completionTime %v, want both", got.Status.StartTime, got.Status.CompletionTime)
	}
	u := got.Status.UncountedTerminatedPods
	if u == nil || len(u.Succeeded)+len(u.Failed) != 0 {
		t.Errorf("uncountedTerminatedPods %+v, want empty", u)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		cond := condition(got, ct)
		if cond == nil || cond.Reason != batchv1.JobReasonCompletionsReached || cond.Message != "Reached expected number of succeeded pods" {
			t.Errorf("condition %s = %+v, want reason CompletionsReached", ct, cond)
		}
	}
	if got.Status.Conditions[0].Type != batchv1.JobSuccessCriteriaMet {
		t.Errorf("conditions %v: SuccessCriteriaMet must come first", got.Status.Conditions)
	}
	for _, p := range c.pods(t, j, false) {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
		}
	}
	c.waitEvent(t, j, "Completed: Job completed")
	created := 0
	for _, e := range c.events(t, j) {
		if strings.HasPrefix(e, "SuccessfulCreate: Created pod: pi-") {
			created++
		}
	}
	if created != 3 {
		t.Errorf("%d SuccessfulCreate events, want 3: %v", created, c.events(t, j))
	}
}

func TestJobBackoffLimitExceeded(t *testing.T) {
	c := startCluster(t, job.Config{PodFailureBackoff: 100 * time.Millisecond, MaxPodFailureBackoff: time.Second})
	j := c.createJob(t, newJob("flaky", func(j *batchv1.Job) {
		j.Spec.BackoffLimit = ptr.To[int32](1)
	}))
	for i := 0; i < 2; i++ {
		pods := c.waitActivePods(t, j, 1)
		c.finish(t, pods[0], corev1.PodFailed, 1)
	}
	got := c.waitCondition(t, j, batchv1.JobFailed)
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		cond := condition(got, ct)
		if cond == nil || cond.Reason != "BackoffLimitExceeded" || cond.Message != "Job has reached the specified backoff limit" {
			t.Errorf("condition %s = %+v, want BackoffLimitExceeded", ct, cond)
		}
	}
	if got.Status.Failed != 2 || got.Status.Succeeded != 0 || got.Status.Active != 0 {
		t.Errorf("status failed=%d succeeded=%d active=%d, want 2/0/0", got.Status.Failed, got.Status.Succeeded, got.Status.Active)
	}
	if got.Status.CompletionTime != nil {
		t.Errorf("completionTime %v on a failed job", got.Status.CompletionTime)
	}
	if n := len(c.pods(t, j, false)); n != 2 {
		t.Errorf("%d pods created, want 2", n)
	}
	c.waitEvent(t, j, "BackoffLimitExceeded: Job has reached the specified backoff limit")
	// Counted once: later syncs do not change the counter.
	time.Sleep(300 * time.Millisecond)
	again, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status.Failed != 2 {
		t.Errorf("failed=%d after resync, want 2", again.Status.Failed)
	}
}

func TestJobActiveDeadline(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("slow", func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
		j.Spec.Parallelism = ptr.To[int32](2)
		j.Spec.Completions = ptr.To[int32](4)
	}))
	c.waitActivePods(t, j, 2)
	got := c.waitCondition(t, j, batchv1.JobFailed)
	cond := condition(got, batchv1.JobFailed)
	if cond.Reason != "DeadlineExceeded" || cond.Message != "Job was active longer than specified deadline" {
		t.Errorf("Failed condition %+v, want DeadlineExceeded", cond)
	}
	if got.Status.Active != 0 || got.Status.Failed != 2 || ptr.Deref(got.Status.Terminating, -1) != 0 {
		t.Errorf("status active=%d failed=%d terminating=%v, want 0/2/0", got.Status.Active, got.Status.Failed, got.Status.Terminating)
	}
	poll(t, "pods deleted", func() (bool, error) { return len(c.pods(t, j, false)) == 0, nil })
	c.waitEvent(t, j, "DeadlineExceeded: Job was active longer than specified deadline")
}

func TestJobIndexed(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("idx", func(j *batchv1.Job) {
		j.Spec.Completions = ptr.To[int32](3)
		j.Spec.Parallelism = ptr.To[int32](3)
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	}))
	pods := c.waitActivePods(t, j, 3)
	byIndex := map[string]corev1.Pod{}
	for _, p := range pods {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		byIndex[ix] = p
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod %s index label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
		}
		if p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Errorf("pod %s hostname %q, want idx-%s", p.Name, p.Spec.Hostname, ix)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env %+v", p.Name, env)
		}
	}
	if len(byIndex) != 3 || byIndex["0"].Name == "" || byIndex["2"].Name == "" {
		t.Fatalf("indexes %v, want 0, 1, 2", byIndex)
	}
	c.finish(t, byIndex["2"], corev1.PodSucceeded, 0)
	c.finish(t, byIndex["1"], corev1.PodFailed, 1) // replaced with the same index
	poll(t, "completedIndexes 2", func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		return err == nil && got.Status.CompletedIndexes == "2" && got.Status.Succeeded == 1 && got.Status.Failed == 1, err
	})
	var replacement corev1.Pod
	poll(t, "replacement of index 1", func() (bool, error) {
		for _, p := range c.pods(t, j, true) {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "1" {
				replacement = p
				return true, nil
			}
		}
		return false, nil
	})
	c.finish(t, replacement, corev1.PodSucceeded, 0)
	c.finish(t, byIndex["0"], corev1.PodSucceeded, 0)
	got := c.waitCondition(t, j, batchv1.JobComplete)
	if got.Status.CompletedIndexes != "0-2" || got.Status.Succeeded != 3 || got.Status.Failed != 1 {
		t.Errorf("completedIndexes %q succeeded %d failed %d, want 0-2/3/1", got.Status.CompletedIndexes, got.Status.Succeeded, got.Status.Failed)
	}
}

func TestJobSuspendAndResume(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("later", func(j *batchv1.Job) {
		j.Spec.Suspend = ptr.To(true)
		j.Spec.Parallelism = ptr.To[int32](2)
	}))
	got := c.waitCondition(t, j, batchv1.JobSuspended)
	if cond := condition(got, batchv1.JobSuspended); cond.Reason != "JobSuspended" || cond.Message != "Job suspended" {
		t.Errorf("Suspended condition %+v", cond)
	}
	if got.Status.StartTime != nil {
		t.Errorf("suspended job has startTime %v", got.Status.StartTime)
	}
	if n := len(c.pods(t, j, false)); n != 0 {
		t.Fatalf("suspended job has %d pods", n)
	}
	c.waitEvent(t, j, "Suspended: Job suspended")

	got.Spec.Suspend = ptr.To(false)
	if _, err := c.client.BatchV1().Jobs(c.ns).Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitActivePods(t, j, 2)
	poll(t, "Suspended=False JobResumed", func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == batchv1.JobSuspended && cond.Status == corev1.ConditionFalse && cond.Reason == "JobResumed" {
				return got.Status.StartTime != nil, nil
			}
		}
		return false, nil
	})
	c.waitEvent(t, j, "Resumed: Job resumed")

	// Suspending again deletes the running pods.
	got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Suspend = ptr.To(true)
	if _, err := c.client.BatchV1().Jobs(c.ns).Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "pods deleted on suspension", func() (bool, error) { return len(c.pods(t, j, false)) == 0, nil })
	got = c.waitCondition(t, j, batchv1.JobSuspended)
	if got.Status.Failed != 0 {
		t.Errorf("suspension counted %d failures", got.Status.Failed)
	}
}

func TestJobPodFailurePolicy(t *testing.T) {
	c := startCluster(t, job.Config{PodFailureBackoff: 50 * time.Millisecond})
	j := c.createJob(t, newJob("policy", func(j *batchv1.Job) {
		j.Spec.BackoffLimit = ptr.To[int32](6)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		}}
	}))
	pods := c.waitActivePods(t, j, 1)
	c.finish(t, pods[0], corev1.PodFailed, 3) // ignored: replaced, not counted
	var next corev1.Pod
	poll(t, "a replacement", func() (bool, error) {
		for _, p := range c.pods(t, j, true) {
			if p.Name != pods[0].Name {
				next = p
				return true, nil
			}
		}
		return false, nil
	})
	c.finish(t, next, corev1.PodFailed, 42)
	got := c.waitCondition(t, j, batchv1.JobFailed)
	want := fmt.Sprintf("Container main for pod %s/%s failed with exit code 42 matching FailJob rule at index 1", c.ns, next.Name)
	if cond := condition(got, batchv1.JobFailed); cond.Reason != "PodFailurePolicy" || cond.Message != want {
		t.Errorf("Failed condition %+v, want PodFailurePolicy %q", cond, want)
	}
	if got.Status.Failed != 1 {
		t.Errorf("failed=%d, want 1 (the ignored failure is not counted)", got.Status.Failed)
	}
}

func TestJobWorkQueue(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("queue", func(j *batchv1.Job) {
		j.Spec.Parallelism = ptr.To[int32](2) // completions unset: a work queue
	}))
	pods := c.waitActivePods(t, j, 2)
	c.finish(t, pods[0], corev1.PodSucceeded, 0)
	// After a success no pod is added; the Job waits for the other.
	poll(t, "the success counted", func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
		return err == nil && got.Status.Succeeded == 1 && got.Status.Active == 1, err
	})
	if got := condition(c.getJob(t, j), batchv1.JobComplete); got != nil {
		t.Fatalf("complete while a pod runs: %+v", got)
	}
	if n := len(c.pods(t, j, false)); n != 2 {
		t.Errorf("%d pods, want 2", n)
	}
	c.finish(t, pods[1], corev1.PodSucceeded, 0)
	got := c.waitCondition(t, j, batchv1.JobComplete)
	if got.Status.Succeeded != 2 {
		t.Errorf("succeeded=%d, want 2", got.Status.Succeeded)
	}
}

func (c *cluster) getJob(t *testing.T, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	got, err := c.client.BatchV1().Jobs(c.ns).Get(context.Background(), j.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestJobDeletedReleasesPodFinalizers(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("gone", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](2) }))
	c.waitActivePods(t, j, 2)
	if err := c.client.BatchV1().Jobs(c.ns).Delete(context.Background(), j.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// No garbage collector runs here: the pods stay, without finalizers.
	poll(t, "finalizers removed", func() (bool, error) {
		pods := c.pods(t, j, false)
		for _, p := range pods {
			if len(p.Finalizers) > 0 {
				return false, nil
			}
		}
		return len(pods) == 2, nil
	})
}

func TestJobPodReplacementPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy batchv1.PodReplacementPolicy
		// replacedAtOnce: a replacement starts while the deleted pod
		// terminates.
		replacedAtOnce bool
	}{
		{batchv1.TerminatingOrFailed, true},
		{batchv1.Failed, false},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			c := startCluster(t, job.Config{PodFailureBackoff: 50 * time.Millisecond})
			j := c.createJob(t, newJob("replace", func(j *batchv1.Job) {
				j.Spec.PodReplacementPolicy = ptr.To(tc.policy)
			}))
			first := c.waitActivePods(t, j, 1)[0]
			// Without a kubelet the deleted pod stays, terminating, while its
			// finalizer is on.
			if err := c.client.CoreV1().Pods(c.ns).Delete(context.Background(), first.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.replacedAtOnce {
				c.waitActivePods(t, j, 1)
				poll(t, "the deleted pod counted as failed", func() (bool, error) {
					got := c.getJob(t, j)
					return got.Status.Failed == 1 && got.Status.Active == 1, nil
				})
				return
			}
			poll(t, "terminating=1", func() (bool, error) {
				got := c.getJob(t, j)
				return ptr.Deref(got.Status.Terminating, 0) == 1 && got.Status.Active == 0, nil
			})
			time.Sleep(200 * time.Millisecond)
			if n := len(c.pods(t, j, true)); n != 0 {
				t.Fatalf("%d replacement pods while the first terminates", n)
			}
			terminating, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), first.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.finish(t, *terminating, corev1.PodFailed, 137)
			c.waitActivePods(t, j, 1)
			poll(t, "failed=1 terminating=0", func() (bool, error) {
				got := c.getJob(t, j)
				return got.Status.Failed == 1 && ptr.Deref(got.Status.Terminating, -1) == 0, nil
			})
		})
	}
}

func TestJobBackoffLimitPerIndex(t *testing.T) {
	c := startCluster(t, job.Config{PodFailureBackoff: 50 * time.Millisecond})
	j := c.createJob(t, newJob("perindex", func(j *batchv1.Job) {
		j.Spec.Completions = ptr.To[int32](2)
		j.Spec.Parallelism = ptr.To[int32](2)
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	}))
	podOf := func(ix, failures string) corev1.Pod {
		var found corev1.Pod
		poll(t, "a pod of index "+ix+" with "+failures+" failures", func() (bool, error) {
			for _, p := range c.pods(t, j, true) {
				if p.Annotations[batchv1.JobCompletionIndexAnnotation] == ix {
					found = p
					return p.Annotations[batchv1.JobIndexFailureCountAnnotation] == failures, nil
				}
			}
			return false, nil
		})
		return found
	}
	c.finish(t, podOf("0", "0"), corev1.PodFailed, 1)
	c.finish(t, podOf("0", "1"), corev1.PodFailed, 1) // index 0 reaches its limit
	c.finish(t, podOf("1", "0"), corev1.PodSucceeded, 0)
	got := c.waitCondition(t, j, batchv1.JobFailed)
	if cond := condition(got, batchv1.JobFailed); cond.Reason != "FailedIndexes" || cond.Message != "Job has failed indexes" {
		t.Errorf("Failed condition %+v", cond)
	}
	if ptr.Deref(got.Status.FailedIndexes, "") != "0" || got.Status.CompletedIndexes != "1" || got.Status.Failed != 2 || got.Status.Succeeded != 1 {
		t.Errorf("failedIndexes %v completedIndexes %q failed %d succeeded %d, want 0/1/2/1",
			got.Status.FailedIndexes, got.Status.CompletedIndexes, got.Status.Failed, got.Status.Succeeded)
	}
	for _, p := range c.pods(t, j, false) {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
		}
	}
}

func TestJobSuccessPolicy(t *testing.T) {
	c := startCluster(t, job.Config{})
	j := c.createJob(t, newJob("leader", func(j *batchv1.Job) {
		j.Spec.Completions = ptr.To[int32](3)
		j.Spec.Parallelism = ptr.To[int32](3)
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	}))
	for _, p := range c.waitActivePods(t, j, 3) {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
			c.finish(t, p, corev1.PodSucceeded, 0)
		}
	}
	got := c.waitCondition(t, j, batchv1.JobComplete)
	for _, ct := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		if cond := condition(got, ct); cond == nil || cond.Reason != "SuccessPolicy" || cond.Message != "Matched rules at index 0" {
			t.Errorf("condition %s = %+v, want SuccessPolicy", ct, cond)
		}
	}
	// The other indexes were stopped, not counted as failures.
	if got.Status.Succeeded != 1 || got.Status.Failed != 0 || got.Status.Active != 0 || got.Status.CompletedIndexes != "0" {
		t.Errorf("status succeeded=%d failed=%d active=%d completedIndexes=%q", got.Status.Succeeded, got.Status.Failed, got.Status.Active, got.Status.CompletedIndexes)
	}
	poll(t, "the other pods deleted", func() (bool, error) { return len(c.pods(t, j, false)) == 1, nil })
}
