package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"
)

// sync reconciles one Deployment.
func (c *Controller) sync(ctx context.Context, k string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return fmt.Errorf("deployment key %q: %w", k, err)
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get deployment %s: %w", k, err)
	}
	d := cached.DeepCopy()

	if reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			if err := c.updateStatus(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}

	rsList, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	podMap, err := c.podMap(d, rsList)
	if err != nil {
		return err
	}

	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	// Mark pausing and resuming in the Progressing condition, so that a
	// resumed Deployment does not time out at once.
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList, podMap)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// claimReplicaSets lists the ReplicaSets d controls, adopting the orphans
// it selects and releasing those it no longer selects, as Kubernetes'
// ReplicaSetControllerRefManager.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replica sets of %s: %w", key(d), err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	var claimed []*appsv1.ReplicaSet
	var errs []error
	var canAdopt error
	checked := false
	for _, rs := range all {
		ref := metav1.GetControllerOfNoCopy(rs)
		matches := selector.Matches(labels.Set(rs.Labels))
		if ref != nil {
			if ref.UID != d.UID {
				continue
			}
			if matches {
				claimed = append(claimed, rs)
				continue
			}
			if d.DeletionTimestamp != nil {
				continue
			}
			if err := c.patchReplicaSetOwner(ctx, rs, releasePatch(d.UID, rs.UID)); err != nil &&
				!apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				errs = append(errs, err)
			}
			continue
		}
		if d.DeletionTimestamp != nil || !matches || rs.DeletionTimestamp != nil {
			continue
		}
		if !checked {
			checked = true
			canAdopt = c.recheckNotDeleted(ctx, d)
		}
		if canAdopt != nil {
			errs = append(errs, fmt.Errorf("can't adopt ReplicaSet %v/%v (%v): %w", rs.Namespace, rs.Name, rs.UID, canAdopt))
			continue
		}
		err := c.patchReplicaSetOwner(ctx, rs, adoptPatch(d, rs.UID))
		switch {
		case err == nil:
			claimed = append(claimed, rs)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, err)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

func (c *Controller) recheckNotDeleted(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original Deployment %v/%v is gone: got uid %v, wanted %v", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%v/%v has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

func adoptPatch(d *appsv1.Deployment, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"ownerReferences": []interface{}{metav1.NewControllerRef(d, controllerKind)},
		"uid":             uid,
	}})
	return b
}

func releasePatch(owner, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"ownerReferences": []interface{}{map[string]interface{}{"$patch": "delete", "uid": owner}},
		"uid":             uid,
	}})
	return b
}

func (c *Controller) patchReplicaSetOwner(ctx context.Context, rs *appsv1.ReplicaSet, patch []byte) error {
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patch owner of replica set %s: %w", key(rs), err)
	}
	return nil
}

// podMap groups the pods d selects by the ReplicaSet of rss controlling
// them; terminal and terminating pods are kept (Recreate waits for them).
func (c *Controller) podMap(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: selector: %w", key(d), err)
	}
	pods, err := c.podLister.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", key(d), err)
	}
	m := make(map[types.UID][]*corev1.Pod, len(rss))
	for _, rs := range rss {
		m[rs.UID] = []*corev1.Pod{}
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if list, ok := m[ref.UID]; ok {
			m[ref.UID] = append(list, p)
		}
	}
	return m, nil
}

// syncStatusOnly writes the status of a Deployment being deleted.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, withNew(olds, newRS), newRS, d)
}

// syncScale handles a paused Deployment or a scaling event: resize the
// ReplicaSets, no rollout.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, olds); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, olds, d); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, withNew(olds, newRS), newRS, d)
}

// isScalingEvent reports whether spec.replicas differs from what an active
// ReplicaSet recorded as desired: a resize, not a new template.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range active(withNew(olds, newRS)) {
		want, ok := intAnnotation(rs, DesiredReplicasAnnotation)
		if ok && want != desired(d) {
			return true, nil
		}
	}
	return false, nil
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond
// revisionHistoryLimit, those with no pods left.
func (c *Controller) cleanupDeployment(ctx context.Context, olds []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range olds {
		if rs != nil && rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := int32(len(cleanable)) - *d.Spec.RevisionHistoryLimit
	if diff <= 0 {
		return nil
	}
	sortByRevision(cleanable)
	for i := int32(0); i < diff; i++ {
		rs := cleanable[i]
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration || rs.DeletionTimestamp != nil {
			continue
		}
		c.logger.Debug("deleting old replica set", "deployment", key(d), "replicaSet", rs.Name)
		if err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s: %w", key(rs), err)
		}
	}
	return nil
}
