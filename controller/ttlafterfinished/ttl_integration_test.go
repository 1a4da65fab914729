package ttlafterfinished_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/ttlafterfinished"
	"berth/internal/testserver"
)

func TestFinishedJobsDeletedAfterTTL(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, ttlafterfinished.New)
	ctx := context.Background()
	jobs := s.Client.BatchV1().Jobs("default")
	create := func(name string, ttl *int32, finish bool) {
		t.Helper()
		j, err := jobs.Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{
				TTLSecondsAfterFinished: ttl,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !finish {
			return
		}
		now := metav1.Now()
		j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &now, &now, 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("keep-no-ttl", nil, true)
	create("keep-running", ptr.To[int32](0), false)
	create("delete-at-once", ptr.To[int32](0), true)
	// Finish times have whole seconds: a 2s TTL expires 1 to 2s after.
	finished := time.Now()
	create("delete-later", ptr.To[int32](2), true)

	// The controller deletes with foreground propagation, as Kubernetes'
	// does: without a garbage collector in this test the Job stays, marked
	// with a deletionTimestamp.
	gone := func(name string) bool {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && j.DeletionTimestamp != nil)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return gone("delete-at-once"), nil
	}); err != nil {
		t.Fatal("job with ttl 0 not deleted")
	}
	if gone("delete-later") && time.Since(finished) < time.Second {
		t.Error("job with ttl 2s deleted at once")
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return gone("delete-later"), nil
	}); err != nil {
		t.Fatal("job with ttl 2s not deleted")
	}
	for _, name := range []string{"keep-no-ttl", "keep-running"} {
		if gone(name) {
			t.Errorf("job %s deleted", name)
		}
	}
}
