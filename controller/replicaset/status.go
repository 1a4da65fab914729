package replicaset

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// calculateStatus is the status of rs given the active pods it owns and
// the error of its last scaling, if any. pods are not modified.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	// The template's labels include the selector's, so every fully labeled
	// pod is among the selected ones.
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fully, ready, available int32
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			fully++
		}
		if podReady(p) {
			ready++
			if PodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := condition(rs.Status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(pods) - int(replicas(rs)); diff < 0 {
			reason = ReasonFailedCreate
		} else if diff > 0 {
			reason = ReasonFailedDelete
		}
		setCondition(&status, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetReplicaFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		status.Conditions = withoutCondition(status.Conditions, appsv1.ReplicaSetReplicaFailure)
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = fully
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	return status
}

func condition(s appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setCondition adds or replaces a condition, unless one with the same
// status and reason is there already.
func setCondition(s *appsv1.ReplicaSetStatus, c appsv1.ReplicaSetCondition) {
	if cur := condition(*s, c.Type); cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	s.Conditions = append(withoutCondition(s.Conditions, c.Type), c)
}

func withoutCondition(cs []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range cs {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// updateStatus writes status unless rs already has it (and has observed
// its generation); on a conflict it reads rs again and retries once.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if rs.Status.Replicas == status.Replicas &&
		rs.Status.FullyLabeledReplicas == status.FullyLabeledReplicas &&
		rs.Status.ReadyReplicas == status.ReadyReplicas &&
		rs.Status.AvailableReplicas == status.AvailableReplicas &&
		rs.Generation == rs.Status.ObservedGeneration &&
		reflect.DeepEqual(rs.Status.Conditions, status.Conditions) {
		return rs, nil
	}
	// The generation acted on, not a newer one seen on retry.
	status.ObservedGeneration = rs.Generation
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	cur := rs.DeepCopy()
	for attempt := 0; ; attempt++ {
		c.logger.Debug("updating status", "replicaSet", key(rs),
			"replicas", status.Replicas, "ready", status.ReadyReplicas, "available", status.AvailableReplicas,
			"observedGeneration", status.ObservedGeneration)
		cur.Status = status
		updated, err := client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil || attempt >= 1 {
			return updated, err
		}
		if cur, err = client.Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}
