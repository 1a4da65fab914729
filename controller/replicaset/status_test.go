package replicaset

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func mkRS(replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 3},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

func labeled(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

func TestCalculateStatus(t *testing.T) {
	full := map[string]string{"app": "web", "tier": "front"}
	partial := map[string]string{"app": "web"}
	for _, tc := range []struct {
		name                              string
		minReady                          int32
		pods                              []*corev1.Pod
		replicas, fully, ready, available int32
	}{
		{"none", 0, nil, 0, 0, 0, 0},
		{"fully labeled counts template labels", 0, []*corev1.Pod{
			mkPod("a", labeled(full)), mkPod("b", labeled(partial)),
		}, 2, 1, 0, 0},
		{"ready and available", 0, []*corev1.Pod{
			mkPod("a", labeled(full), readySince(time.Second)), mkPod("b", labeled(full)),
		}, 2, 2, 1, 1},
		{"minReadySeconds delays availability", 10, []*corev1.Pod{
			mkPod("a", labeled(full), readySince(time.Second)), mkPod("b", labeled(full), readySince(time.Minute)),
		}, 2, 2, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := mkRS(2)
			rs.Spec.MinReadySeconds = tc.minReady
			s := calculateStatus(rs, tc.pods, nil, t0)
			if s.Replicas != tc.replicas || s.FullyLabeledReplicas != tc.fully || s.ReadyReplicas != tc.ready || s.AvailableReplicas != tc.available {
				t.Errorf("got %+v", s)
			}
			if len(s.Conditions) != 0 {
				t.Errorf("conditions %v", s.Conditions)
			}
		})
	}
}

func TestReplicaFailureCondition(t *testing.T) {
	rs := mkRS(3)
	boom := errors.New("pods \"x\" is forbidden: quota")
	s := calculateStatus(rs, []*corev1.Pod{mkPod("a")}, boom, t0)
	if len(s.Conditions) != 1 {
		t.Fatalf("conditions %v", s.Conditions)
	}
	c := s.Conditions[0]
	if c.Type != appsv1.ReplicaSetReplicaFailure || c.Status != corev1.ConditionTrue || c.Reason != "FailedCreate" ||
		c.Message != boom.Error() || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("condition %+v", c)
	}
	// Too many pods: FailedDelete.
	rs1 := mkRS(0)
	if s := calculateStatus(rs1, []*corev1.Pod{mkPod("a")}, boom, t0); s.Conditions[0].Reason != "FailedDelete" {
		t.Errorf("reason %q", s.Conditions[0].Reason)
	}
	// An existing failure stays as it was while errors continue...
	rs.Status = s
	again := calculateStatus(rs, nil, errors.New("other"), t0.Add(time.Minute))
	if again.Conditions[0].Message != boom.Error() {
		t.Errorf("condition replaced: %+v", again.Conditions[0])
	}
	// ...and goes when a sync succeeds.
	if ok := calculateStatus(rs, nil, nil, t0); len(ok.Conditions) != 0 {
		t.Errorf("condition kept after success: %v", ok.Conditions)
	}
}

func TestExpectations(t *testing.T) {
	now := t0
	e := newExpectations(5*time.Minute, func() time.Time { return now })
	if !e.satisfied("ns/a") {
		t.Fatal("no expectations must be satisfied")
	}
	e.expectCreations("ns/a", 2)
	if e.satisfied("ns/a") {
		t.Fatal("2 creations expected")
	}
	e.creationObserved("ns/a")
	e.creationObserved("ns/b") // another key: no effect
	if e.satisfied("ns/a") {
		t.Fatal("1 creation still expected")
	}
	e.creationObserved("ns/a")
	if !e.satisfied("ns/a") {
		t.Fatal("all creations seen")
	}
	e.expectDeletions("ns/a", []string{"ns/p1", "ns/p2"})
	e.deletionObserved("ns/a", "ns/p1")
	e.deletionObserved("ns/a", "ns/p1") // twice (graceful then final): counts once
	e.deletionObserved("ns/a", "ns/other")
	if e.satisfied("ns/a") {
		t.Fatal("p2 deletion still expected")
	}
	now = now.Add(5*time.Minute + time.Second)
	if !e.satisfied("ns/a") {
		t.Fatal("expired expectations must be satisfied")
	}
	e.expectCreations("ns/a", 1)
	e.delete("ns/a")
	if !e.satisfied("ns/a") {
		t.Fatal("deleted expectations must be satisfied")
	}
}
