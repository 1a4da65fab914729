package ttlafterfinished

import (
	"context"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

func TestSync(t *testing.T) {
	now := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	finished := func(ct batchv1.JobConditionType, ago time.Duration) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-ago))}}
	}
	for _, tc := range []struct {
		name       string
		ttl        *int32
		conditions []batchv1.JobCondition
		deleting   bool
		wantDelete bool
	}{
		{name: "complete, expired", ttl: ptr.To[int32](5), conditions: finished(batchv1.JobComplete, 10*time.Second), wantDelete: true},
		{name: "failed, expired now", ttl: ptr.To[int32](0), conditions: finished(batchv1.JobFailed, 0), wantDelete: true},
		{name: "complete, not yet", ttl: ptr.To[int32](60), conditions: finished(batchv1.JobComplete, 10*time.Second)},
		{name: "no ttl", conditions: finished(batchv1.JobComplete, time.Hour)},
		{name: "not finished", ttl: ptr.To[int32](0)},
		{name: "complete=false", ttl: ptr.To[int32](0), conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}}},
		{name: "already being deleted", ttl: ptr.To[int32](0), conditions: finished(batchv1.JobComplete, time.Hour), deleting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "j", UID: "uid-1"},
				Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: tc.ttl},
				Status:     batchv1.JobStatus{Conditions: tc.conditions},
			}
			if tc.deleting {
				j.DeletionTimestamp = ptr.To(metav1.NewTime(now))
				j.Finalizers = []string{"foregroundDeletion"}
			}
			client := fake.NewClientset(j)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := New(&controller.Shared{
				Client: client, Informers: factory,
				Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) },
				Logger:   slog.New(slog.DiscardHandler),
				Now:      func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.(*Controller).sync(context.Background(), "ns/j"); err != nil {
				t.Fatal(err)
			}
			var deletes []k8stesting.DeleteAction
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					deletes = append(deletes, d)
				}
			}
			if tc.wantDelete != (len(deletes) == 1) {
				t.Fatalf("deletes %v, want delete %v", deletes, tc.wantDelete)
			}
			if tc.wantDelete {
				opts := deletes[0].GetDeleteOptions()
				if ptr.Deref(opts.PropagationPolicy, "") != metav1.DeletePropagationForeground ||
					opts.Preconditions == nil || ptr.Deref(opts.Preconditions.UID, "") != "uid-1" {
					t.Errorf("delete options %+v, want background propagation and a uid precondition", opts)
				}
			}
		})
	}
}
