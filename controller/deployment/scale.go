package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scale resizes the ReplicaSets of d to spec.replicas without rolling
// out: the only active (or newest) ReplicaSet takes everything; with a
// saturated new ReplicaSet the old ones go to zero; otherwise, for a
// rolling update, the difference is shared in proportion to their sizes.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) error {
	if one := findActiveOrLatest(newRS, olds); one != nil {
		if replicasOf(one) == desired(d) {
			return nil
		}
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, one, desired(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range active(olds) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := active(withNew(olds, newRS))
	sizes := proportionalSizes(d, all)
	for _, rs := range all {
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.Name], d); err != nil {
			return err
		}
	}
	return nil
}

// proportionalSizes shares the replicas to add to (or remove from) the
// active ReplicaSets all, which it sorts: larger first, and among equals
// newer first when adding, older first when removing. The leftover of the
// rounding goes to the first (largest). It returns the new sizes by name.
func proportionalSizes(d *appsv1.Deployment, all []*appsv1.ReplicaSet) map[string]int32 {
	allowed := int32(0)
	if desired(d) > 0 {
		allowed = desired(d) + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	switch {
	case toAdd > 0:
		sort.Sort(bySizeNewer(all))
	case toAdd < 0:
		sort.Sort(bySizeOlder(all))
	}
	sizes := make(map[string]int32, len(all))
	added := int32(0)
	for _, rs := range all {
		if toAdd == 0 {
			sizes[rs.Name] = replicasOf(rs)
			continue
		}
		p := replicaSetProportion(rs, d, toAdd, added)
		sizes[rs.Name] = replicasOf(rs) + p
		added += p
	}
	if toAdd != 0 && len(all) > 0 {
		first := all[0].Name
		sizes[first] = max(sizes[first]+toAdd-added, 0)
	}
	return sizes
}

// scaleReplicaSetAndRecordEvent resizes rs if needed, reporting whether it
// did.
func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if replicasOf(rs) == size {
		return false, rs, nil
	}
	return c.scaleReplicaSet(ctx, rs, size, d)
}

// scaleReplicaSet sets rs's replicas and replicas annotations, recording
// the ScalingReplicaSet event Kubernetes records when the size changes.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	sizeChanges := replicasOf(rs) != size
	maxReplicas := desired(d) + maxSurge(d)
	if !sizeChanges && !replicasAnnotationsNeedUpdate(rs, desired(d), maxReplicas) {
		return false, rs, nil
	}
	before := replicasOf(rs)
	rsCopy := rs.DeepCopy()
	rsCopy.Spec.Replicas = &size
	setReplicasAnnotations(rsCopy, desired(d), maxReplicas)
	updated, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replica set %s to %d: %w", key(rs), size, err)
	}
	if !sizeChanges {
		return false, updated, nil
	}
	op := "down"
	if before < size {
		op = "up"
	}
	c.logger.Debug("scaled replica set", "deployment", key(d), "replicaSet", rs.Name, "from", before, "to", size)
	c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, before, size)
	return true, updated, nil
}
