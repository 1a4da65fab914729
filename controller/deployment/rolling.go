package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling moves a RollingUpdate Deployment one step: grow the new
// ReplicaSet within maxSurge, else shrink the old ones within
// maxUnavailable; trim history once complete; write the status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(olds, newRS)

	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, active(olds), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, olds, d); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

// reconcileNewReplicaSet scales the new ReplicaSet toward spec.replicas as
// far as the surge allows (or down to it).
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if replicasOf(newRS) == desired(d) {
		return false, nil
	}
	if replicasOf(newRS) > desired(d) {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, desired(d), d)
		return scaled, err
	}
	size, err := newRSNewReplicas(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, size, d)
	return scaled, err
}

// maxScaledDown is how many old replicas may go now: all replicas, less
// the minimum available (spec.replicas - maxUnavailable), less the new
// ReplicaSet's replicas not yet available (so that a broken new template
// does not eat the old pods).
func maxScaledDown(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	minAvailable := desired(d) - maxUnavailable(d)
	newUnavailable := replicasOf(newRS)
	if newRS != nil {
		newUnavailable -= newRS.Status.AvailableReplicas
	}
	return specReplicas(all) - minAvailable - newUnavailable
}

// reconcileOldReplicaSets scales old ReplicaSets down: first their
// unhealthy replicas, then available ones while availability stays above
// the minimum.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(olds) == 0 {
		return false, nil
	}
	limit := maxScaledDown(d, all, newRS)
	if limit <= 0 {
		return false, nil
	}
	olds, cleaned, err := c.cleanupUnhealthyReplicas(ctx, olds, d, limit)
	if err != nil {
		// As Kubernetes: try again at the next sync.
		c.logger.Debug("cleaning up unhealthy replicas", "deployment", key(d), "err", err)
		return false, nil
	}
	scaledDown, err := c.scaleDownOldReplicaSets(ctx, withNew(olds, newRS), olds, d)
	if err != nil {
		c.logger.Debug("scaling down old replica sets", "deployment", key(d), "err", err)
		return false, nil
	}
	return cleaned+scaledDown > 0, nil
}

// cleanupUnhealthyReplicas scales old ReplicaSets (oldest first) down by
// their unavailable replicas, at most limit in all; the ReplicaSet
// controller deletes not-ready pods first, so availability does not drop.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, olds []*appsv1.ReplicaSet, d *appsv1.Deployment, limit int32) ([]*appsv1.ReplicaSet, int32, error) {
	sort.Sort(byCreation(olds))
	total := int32(0)
	for i, rs := range olds {
		if total >= limit {
			break
		}
		if replicasOf(rs) == 0 || replicasOf(rs) == rs.Status.AvailableReplicas {
			continue
		}
		down := min(limit-total, replicasOf(rs)-rs.Status.AvailableReplicas)
		size := replicasOf(rs) - down
		if size > replicasOf(rs) {
			return nil, 0, fmt.Errorf("when cleaning up unhealthy replicas, got invalid request to scale down %s/%s %d -> %d", rs.Namespace, rs.Name, replicasOf(rs), size)
		}
		_, updated, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, size, d)
		if err != nil {
			return nil, total, err
		}
		total += down
		olds[i] = updated
	}
	return olds, total, nil
}

// scaleDownOldReplicaSets scales old ReplicaSets (oldest first) down by as
// many replicas as are available beyond the minimum.
func (c *Controller) scaleDownOldReplicaSets(ctx context.Context, all, olds []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := desired(d) - maxUnavailable(d)
	available := availableReplicas(all)
	if available <= minAvailable {
		return 0, nil
	}
	sort.Sort(byCreation(olds))
	want := available - minAvailable
	total := int32(0)
	for _, rs := range olds {
		if total >= want {
			break
		}
		if replicasOf(rs) == 0 {
			continue
		}
		down := min(replicasOf(rs), want-total)
		if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, replicasOf(rs)-down, d); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}
