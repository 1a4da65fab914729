package deployment

import (
	"context"
	"math"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

// testController is a controller on a fake clientset holding d, at a
// fixed time.
func testController(t *testing.T, now time.Time, d *appsv1.Deployment) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewSimpleClientset(d)
	c, err := newController(&controller.Shared{
		Client:    client,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder:  func(string) record.EventRecorder { return record.NewFakeRecorder(10) },
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, client
}

func lastStatus(t *testing.T, client *fake.Clientset) *appsv1.DeploymentStatus {
	t.Helper()
	var out *appsv1.DeploymentStatus
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			s := a.(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment).Status
			out = &s
		}
	}
	return out
}

func TestCalculateStatus(t *testing.T) {
	c := &Controller{now: func() time.Time { return t0 }}
	d := mkDeployment(4, "1", "1")
	d.Generation = 5
	d.Status.CollisionCount = ptr.To[int32](2)
	old := mkReplicaSet("old", 2, 2, time.Hour, nil)
	newRS := mkReplicaSet("new", 3, 1, 0, nil)
	newRS.Status.ReadyReplicas = 2
	s := c.calculateStatus([]*appsv1.ReplicaSet{old, newRS, nil}, newRS, d)
	if s.ObservedGeneration != 5 || s.Replicas != 5 || s.UpdatedReplicas != 3 || s.ReadyReplicas != 4 ||
		s.AvailableReplicas != 3 || s.UnavailableReplicas != 2 || *s.CollisionCount != 2 {
		t.Errorf("status %+v", s)
	}
	av := deploymentCondition(s, appsv1.DeploymentAvailable)
	// 3 available >= 4 - 1.
	if av == nil || av.Status != corev1.ConditionTrue || av.Reason != "MinimumReplicasAvailable" ||
		av.Message != "Deployment has minimum availability." || !av.LastUpdateTime.Time.Equal(t0) {
		t.Errorf("available %+v", av)
	}
	// One fewer available: below the minimum.
	newRS.Status.AvailableReplicas = 0
	d.Status = s
	c.now = func() time.Time { return t0.Add(time.Minute) }
	s2 := c.calculateStatus([]*appsv1.ReplicaSet{old, newRS}, newRS, d)
	av = deploymentCondition(s2, appsv1.DeploymentAvailable)
	if av.Status != corev1.ConditionFalse || av.Reason != "MinimumReplicasUnavailable" ||
		av.Message != "Deployment does not have minimum availability." || !av.LastTransitionTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("unavailable %+v", av)
	}
	// More available than wanted (scaling down): no negative unavailability.
	big := mkReplicaSet("big", 2, 6, 0, nil)
	if s := c.calculateStatus([]*appsv1.ReplicaSet{big}, big, d); s.UnavailableReplicas != 0 {
		t.Errorf("unavailable %d", s.UnavailableReplicas)
	}
}

func TestSetDeploymentCondition(t *testing.T) {
	s := &appsv1.DeploymentStatus{}
	first := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "A",
		LastTransitionTime: metav1.NewTime(t0), LastUpdateTime: metav1.NewTime(t0)}
	setDeploymentCondition(s, first)
	same := first
	same.LastUpdateTime = metav1.NewTime(t0.Add(time.Hour))
	setDeploymentCondition(s, same)
	if !s.Conditions[0].LastUpdateTime.Time.Equal(t0) {
		t.Error("same status and reason replaced the condition")
	}
	other := same
	other.Reason = "B"
	other.LastTransitionTime = metav1.NewTime(t0.Add(time.Hour))
	setDeploymentCondition(s, other)
	if c := s.Conditions[0]; c.Reason != "B" || !c.LastTransitionTime.Time.Equal(t0) || len(s.Conditions) != 1 {
		t.Errorf("new reason, same status: %+v", c)
	}
	flipped := other
	flipped.Status = corev1.ConditionFalse
	setDeploymentCondition(s, flipped)
	if c := s.Conditions[0]; !c.LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("a new status keeps the old transition time: %+v", c)
	}
}

func progressing(reason string, status corev1.ConditionStatus, updated time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: status, Reason: reason,
		LastUpdateTime: metav1.NewTime(updated), LastTransitionTime: metav1.NewTime(updated.Add(-time.Hour))}
}

// TestSyncRolloutStatus covers the Progressing condition of a rollout.
func TestSyncRolloutStatus(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name       string
		deadline   int32
		prior      *appsv1.DeploymentCondition
		priorStats appsv1.DeploymentStatus
		old, newRS *appsv1.ReplicaSet
		reason     string // "" for no Progressing condition
		status     corev1.ConditionStatus
		message    string
		updatedAt  time.Time
	}{
		{
			name: "complete", deadline: 600,
			prior: ptr.To(progressing("ReplicaSetUpdated", corev1.ConditionTrue, now.Add(-time.Minute))),
			old:   mkReplicaSet("web-old", 0, 0, time.Hour, nil), newRS: mkReplicaSet("web-new", 3, 3, 0, nil),
			reason: "NewReplicaSetAvailable", status: corev1.ConditionTrue,
			message: `ReplicaSet "web-new" has successfully progressed.`, updatedAt: now,
		},
		{
			name: "progress renews lastUpdateTime", deadline: 600,
			prior:      ptr.To(progressing("ReplicaSetUpdated", corev1.ConditionTrue, now.Add(-time.Minute))),
			priorStats: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1},
			old:        mkReplicaSet("web-old", 2, 2, time.Hour, nil), newRS: mkReplicaSet("web-new", 2, 1, 0, nil),
			reason: "ReplicaSetUpdated", status: corev1.ConditionTrue,
			message: `ReplicaSet "web-new" is progressing.`, updatedAt: now,
		},
		{
			name: "no progress within the deadline", deadline: 600,
			prior:      ptr.To(progressing("ReplicaSetUpdated", corev1.ConditionTrue, now.Add(-time.Minute))),
			priorStats: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
			old:        mkReplicaSet("web-old", 2, 2, time.Hour, nil), newRS: mkReplicaSet("web-new", 2, 0, 0, nil),
			reason: "ReplicaSetUpdated", status: corev1.ConditionTrue, updatedAt: now.Add(-time.Minute),
		},
		{
			name: "no progress past the deadline", deadline: 30,
			prior:      ptr.To(progressing("ReplicaSetUpdated", corev1.ConditionTrue, now.Add(-time.Minute))),
			priorStats: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
			old:        mkReplicaSet("web-old", 2, 2, time.Hour, nil), newRS: mkReplicaSet("web-new", 2, 0, 0, nil),
			reason: "ProgressDeadlineExceeded", status: corev1.ConditionFalse,
			message: `ReplicaSet "web-new" has timed out progressing.`, updatedAt: now,
		},
		{
			name: "no deadline: no condition", deadline: math.MaxInt32,
			prior: ptr.To(progressing("ReplicaSetUpdated", corev1.ConditionTrue, now.Add(-time.Minute))),
			old:   mkReplicaSet("web-old", 2, 2, time.Hour, nil), newRS: mkReplicaSet("web-new", 2, 0, 0, nil),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mkDeployment(3, "1", "1")
			d.Spec.ProgressDeadlineSeconds = ptr.To(tc.deadline)
			d.Status = tc.priorStats
			d.Status.ObservedGeneration = d.Generation
			if tc.prior != nil {
				d.Status.Conditions = []appsv1.DeploymentCondition{*tc.prior}
			}
			c, client := testController(t, now, d)
			if err := c.syncRolloutStatus(context.Background(), []*appsv1.ReplicaSet{tc.old, tc.newRS}, tc.newRS, d); err != nil {
				t.Fatal(err)
			}
			s := d.Status
			if st := lastStatus(t, client); st != nil {
				s = *st
			}
			cond := deploymentCondition(s, appsv1.DeploymentProgressing)
			if tc.reason == "" {
				if cond != nil {
					t.Errorf("condition %+v", cond)
				}
				return
			}
			if cond == nil || cond.Reason != tc.reason || cond.Status != tc.status ||
				(tc.message != "" && cond.Message != tc.message) || !cond.LastUpdateTime.Time.Equal(tc.updatedAt) {
				t.Errorf("condition %+v", cond)
			}
			if tc.status == corev1.ConditionTrue && !cond.LastTransitionTime.Time.Equal(tc.prior.LastTransitionTime.Time) {
				t.Errorf("transition time changed while the status stayed: %+v", cond)
			}
		})
	}
}

func TestRequeueStuckDeployment(t *testing.T) {
	d := mkDeployment(3, "1", "1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	d.Status.Conditions = []appsv1.DeploymentCondition{progressing("ReplicaSetUpdated", corev1.ConditionTrue, t0.Add(-20*time.Second))}
	c, _ := testController(t, t0, d)
	if after := c.requeueStuckDeployment(d, appsv1.DeploymentStatus{}); after != 40*time.Second {
		t.Errorf("requeued after %s, want 40s", after)
	}
	d.Status.Conditions[0].Reason = "ProgressDeadlineExceeded"
	if after := c.requeueStuckDeployment(d, appsv1.DeploymentStatus{}); after != -1 {
		t.Errorf("timed out deployment requeued after %s", after)
	}
	d.Status.Conditions[0] = progressing("ReplicaSetUpdated", corev1.ConditionTrue, t0.Add(-2*time.Minute))
	if after := c.requeueStuckDeployment(d, appsv1.DeploymentStatus{}); after != 0 {
		t.Errorf("past the deadline: requeued after %s, want now", after)
	}
}

func TestReplicaFailurePromoted(t *testing.T) {
	failed := mkReplicaSet("web-new", 3, 0, 0, nil)
	failed.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedCreate", Message: "forbidden", LastTransitionTime: metav1.NewTime(t0)}}
	d := mkDeployment(3, "1", "1")
	c, client := testController(t, t0, d)
	if err := c.syncRolloutStatus(context.Background(), []*appsv1.ReplicaSet{failed}, failed, d); err != nil {
		t.Fatal(err)
	}
	cond := deploymentCondition(*lastStatus(t, client), appsv1.DeploymentReplicaFailure)
	if cond == nil || cond.Reason != "FailedCreate" || cond.Message != "forbidden" || !cond.LastUpdateTime.Time.Equal(t0) {
		t.Errorf("replica failure %+v", cond)
	}
}

func TestPausedConditions(t *testing.T) {
	d := mkDeployment(3, "1", "1")
	d.Spec.Paused = true
	c, _ := testController(t, t0, d)
	if err := c.checkPausedConditions(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	cond := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionUnknown || cond.Reason != "DeploymentPaused" || cond.Message != "Deployment is paused" {
		t.Fatalf("paused %+v", cond)
	}
	d.Spec.Paused = false
	if err := c.checkPausedConditions(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	cond = deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionUnknown || cond.Reason != "DeploymentResumed" || cond.Message != "Deployment is resumed" {
		t.Errorf("resumed %+v", cond)
	}
	// A timed-out rollout keeps its condition when paused.
	d.Status.Conditions = []appsv1.DeploymentCondition{progressing("ProgressDeadlineExceeded", corev1.ConditionFalse, t0)}
	d.Spec.Paused = true
	if err := c.checkPausedConditions(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if cond := deploymentCondition(d.Status, appsv1.DeploymentProgressing); cond.Reason != "ProgressDeadlineExceeded" {
		t.Errorf("timed out, then paused: %+v", cond)
	}
}
