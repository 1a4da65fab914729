package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of the Deployment conditions, as Kubernetes'.
const (
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonFailedRSCreate     = "ReplicaSetCreateError"
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
	availableMessage         = "Deployment has minimum availability."
	unavailableMessage       = "Deployment does not have minimum availability."
	pausedMessage            = "Deployment is paused"
	resumedMessage           = "Deployment is resumed"
)

func (c *Controller) newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
	now := metav1.NewTime(c.now())
	return appsv1.DeploymentCondition{Type: t, Status: s, LastUpdateTime: now, LastTransitionTime: now, Reason: reason, Message: msg}
}

func deploymentCondition(s appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			c := s.Conditions[i]
			return &c
		}
	}
	return nil
}

// setDeploymentCondition adds or replaces a condition, unless one with the
// same status and reason is there; lastTransitionTime is kept while the
// status stays.
func setDeploymentCondition(s *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := deploymentCondition(*s, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	s.Conditions = append(withoutDeploymentCondition(s.Conditions, c.Type), c)
}

func withoutDeploymentCondition(cs []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType) []appsv1.DeploymentCondition {
	var out []appsv1.DeploymentCondition
	for _, c := range cs {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// updateStatus writes d's status (and annotations) and keeps the stored
// object in d, so that later writes of the same sync do not conflict.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of deployment %s: %w", key(d), err)
	}
	*d = *updated
	return nil
}

// calculateStatus is the status of d given its ReplicaSets (nil entries
// allowed), with the Available condition.
func (c *Controller) calculateStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := availableReplicas(all)
	unavailable := max(specReplicas(all)-available, 0)
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            statusReplicas(all),
		UpdatedReplicas:     statusReplicas([]*appsv1.ReplicaSet{newRS}),
		ReadyReplicas:       readyReplicas(all),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
	}
	status.Conditions = append(status.Conditions, d.Status.Conditions...)
	if available >= desired(d)-maxUnavailable(d) {
		setDeploymentCondition(&status, c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, availableMessage))
	} else {
		setDeploymentCondition(&status, c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, unavailableMessage))
	}
	return status
}

// syncDeploymentStatus writes the status when it changed.
func (c *Controller) syncDeploymentStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	status := c.calculateStatus(all, newRS, d)
	if reflect.DeepEqual(d.Status, status) {
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// deploymentComplete reports whether every replica is updated and
// available and the latest generation observed.
func deploymentComplete(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	return s.UpdatedReplicas == desired(d) &&
		s.Replicas == desired(d) &&
		s.AvailableReplicas == desired(d) &&
		s.ObservedGeneration >= d.Generation
}

// deploymentProgressing reports whether s shows progress over d's stored
// status: more updated, ready or available replicas, or fewer old ones.
func deploymentProgressing(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	old := d.Status
	oldOld := old.Replicas - old.UpdatedReplicas
	newOld := s.Replicas - s.UpdatedReplicas
	return s.UpdatedReplicas > old.UpdatedReplicas ||
		newOld < oldOld ||
		s.ReadyReplicas > old.ReadyReplicas ||
		s.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut reports whether progressDeadlineSeconds passed since
// the Progressing condition was last updated.
func deploymentTimedOut(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := deploymentCondition(*s, appsv1.DeploymentProgressing)
	if cond == nil {
		return false
	}
	// A finished rollout does not time out; the cache may lag behind a
	// new ReplicaSet's condition.
	if cond.Reason == ReasonNewRSAvailable {
		return false
	}
	if cond.Reason == ReasonTimedOut {
		return true
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return cond.LastUpdateTime.Add(deadline).Before(now)
}

// syncRolloutStatus writes the status of a rollout with its Progressing
// condition: complete (NewReplicaSetAvailable), progressing
// (ReplicaSetUpdated, lastUpdateTime renewed), or timed out
// (ProgressDeadlineExceeded); and the ReplicaSets' ReplicaFailure.
func (c *Controller) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	status := c.calculateStatus(all, newRS, d)
	if !hasProgressDeadline(d) {
		status.Conditions = withoutDeploymentCondition(status.Conditions, appsv1.DeploymentProgressing)
	}
	cur := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	isComplete := status.Replicas == status.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !isComplete {
		switch {
		case deploymentComplete(d, &status):
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
			}
			setDeploymentCondition(&status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable, msg))
		case deploymentProgressing(d, &status):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			}
			cond := c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, msg)
			// Progress renews lastUpdateTime even with the same reason.
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				status.Conditions = withoutDeploymentCondition(status.Conditions, appsv1.DeploymentProgressing)
			}
			setDeploymentCondition(&status, cond)
		case deploymentTimedOut(d, &status, c.now()):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)
			}
			setDeploymentCondition(&status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut, msg))
		}
	}
	if failures := replicaFailures(all, newRS); len(failures) > 0 {
		setDeploymentCondition(&status, failures[0])
	} else {
		status.Conditions = withoutDeploymentCondition(status.Conditions, appsv1.DeploymentReplicaFailure)
	}
	if reflect.DeepEqual(d.Status, status) {
		c.requeueStuckDeployment(d, status)
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// replicaFailures turns the ReplicaFailure conditions of the new
// ReplicaSet, or else of the others, into Deployment conditions.
func replicaFailures(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []appsv1.DeploymentCondition {
	collect := func(rs *appsv1.ReplicaSet, out []appsv1.DeploymentCondition) []appsv1.DeploymentCondition {
		for _, c := range rs.Status.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				continue
			}
			out = append(out, appsv1.DeploymentCondition{
				Type:               appsv1.DeploymentConditionType(c.Type),
				Status:             c.Status,
				LastTransitionTime: c.LastTransitionTime,
				LastUpdateTime:     c.LastTransitionTime,
				Reason:             c.Reason,
				Message:            c.Message,
			})
		}
		return out
	}
	var out []appsv1.DeploymentCondition
	if newRS != nil {
		if out = collect(newRS, out); len(out) > 0 {
			return out
		}
	}
	for _, rs := range all {
		if rs != nil {
			out = collect(rs, out)
		}
	}
	return out
}

// requeueStuckDeployment schedules a progress check for when the
// deadline of a rollout that shows no progress would pass. It returns the
// delay, 0 for now, -1 for none.
func (c *Controller) requeueStuckDeployment(d *appsv1.Deployment, status appsv1.DeploymentStatus) time.Duration {
	cur := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil {
		return -1
	}
	if deploymentComplete(d, &status) || cur.Reason == ReasonTimedOut {
		return -1
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.now())
	if after < time.Second {
		c.queue.AddAfter(key(d), time.Second)
		return 0
	}
	// A second more against clock skew between the timer and the check.
	c.queue.AddAfter(key(d), after+time.Second)
	return after
}

// checkPausedConditions marks pausing (Progressing Unknown,
// DeploymentPaused) and resuming (DeploymentResumed), unless the rollout
// already timed out.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setDeploymentCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, pausedMessage))
	case !d.Spec.Paused && pausedCond:
		setDeploymentCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, resumedMessage))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}
