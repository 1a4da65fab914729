package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusRetries bounds the attempts to write a status over conflicts.
const statusRetries = 5

// countReplicas sets status's replica counts from lists of pods (pods not
// created yet count for nothing): replicas (created), readyReplicas
// (Running and Ready), availableReplicas (and Ready for minReadySeconds),
// currentReplicas and updatedReplicas (created, not terminating, at the
// current or update revision).
func countReplicas(status *appsv1.StatefulSetStatus, minReadySeconds int32, now time.Time, current, update *appsv1.ControllerRevision, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, pods := range lists {
		for _, p := range pods {
			if !isCreated(p) {
				continue
			}
			status.Replicas++
			if isRunningAndReady(p) {
				status.ReadyReplicas++
				if isAvailable(p, minReadySeconds, now) {
					status.AvailableReplicas++
				}
			}
			if isTerminating(p) {
				continue
			}
			if revision(p) == current.Name {
				status.CurrentReplicas++
			}
			if revision(p) == update.Name {
				status.UpdatedReplicas++
			}
		}
	}
}

// completeRollingUpdate makes the update revision current once every
// replica is created, ready and updated.
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	want := replicas(set)
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == want && status.ReadyReplicas == want && status.Replicas == want {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// statusChanged reports whether status says something set's status does
// not (Kubernetes' inconsistentStatus).
func statusChanged(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) bool {
	old := &set.Status
	return status.ObservedGeneration > old.ObservedGeneration ||
		status.Replicas != old.Replicas ||
		status.CurrentReplicas != old.CurrentReplicas ||
		status.ReadyReplicas != old.ReadyReplicas ||
		status.UpdatedReplicas != old.UpdatedReplicas ||
		status.CurrentRevision != old.CurrentRevision ||
		status.AvailableReplicas != old.AvailableReplicas ||
		status.UpdateRevision != old.UpdateRevision
}

// writeStatus records status (completing a finished rolling update) if it
// differs from set's, retrying on conflicts with a fresh copy of the set.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeRollingUpdate(set, status)
	if !statusChanged(set, status) {
		return nil
	}
	api := c.client.AppsV1().StatefulSets(set.Namespace)
	toUpdate := set.DeepCopy()
	var err error
	for i := 0; i < statusRetries; i++ {
		toUpdate.Status = *status
		if _, err = api.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{}); err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) {
			break
		}
		fresh, getErr := api.Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			break
		}
		if fresh.UID != set.UID {
			return fmt.Errorf("update status of statefulset %s/%s: replaced by another object", set.Namespace, set.Name)
		}
		toUpdate = fresh
	}
	return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
}
