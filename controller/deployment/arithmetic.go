package deployment

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/integer"
)

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// ResolveFenceposts turns maxSurge and maxUnavailable (numbers or
// percentages of desired) into numbers: surge rounds up, unavailable rounds
// down, and when both come to zero unavailable is 1 so that a rollout can
// proceed.
func ResolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	surge, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxSurge, intstr.FromInt32(0)), int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxUnavailable, intstr.FromInt32(0)), int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

// maxSurge is how many pods a rolling Deployment may run above
// spec.replicas (0 for Recreate).
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil {
		return 0
	}
	s, _, _ := ResolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, desired(d))
	return s
}

// maxUnavailable is how many of spec.replicas a rolling Deployment may
// miss (0 for Recreate or no replicas), at most spec.replicas.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil || desired(d) == 0 {
		return 0
	}
	_, u, _ := ResolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, desired(d))
	return min(u, desired(d))
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now: for a
// rolling update, as much as the surge allows over all ReplicaSets'
// replicas, never beyond spec.replicas; for Recreate, spec.replicas.
func newRSNewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		var surgeValue *intstr.IntOrString
		if d.Spec.Strategy.RollingUpdate != nil {
			surgeValue = d.Spec.Strategy.RollingUpdate.MaxSurge
		}
		surge, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(surgeValue, intstr.FromInt32(0)), int(desired(d)), true)
		if err != nil {
			return 0, fmt.Errorf("maxSurge: %w", err)
		}
		current := specReplicas(all)
		maxTotal := desired(d) + int32(surge)
		if current >= maxTotal {
			return replicasOf(newRS), nil
		}
		up := min(maxTotal-current, desired(d)-replicasOf(newRS))
		return replicasOf(newRS) + up, nil
	case appsv1.RecreateDeploymentStrategyType:
		return desired(d), nil
	default:
		return 0, fmt.Errorf("deployment type %v isn't supported", d.Spec.Strategy.Type)
	}
}

// replicaSetProportion is the share of a scaling by toAdd replicas (added
// so far: added) that falls to rs: its size scaled by the Deployment's new
// maximum over the maximum recorded on rs, bounded by what is left.
func replicaSetProportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if desired(d) == 0 {
		return -replicasOf(rs)
	}
	maxReplicas := desired(d) + maxSurge(d)
	before, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || before == 0 {
		// No record of the maximum when rs was sized: assume the
		// Deployment's current size.
		before = d.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	size := float64(replicasOf(rs)*maxReplicas) / float64(before)
	return integer.RoundToInt32(size) - replicasOf(rs)
}

// hasProgressDeadline reports whether progress is tracked.
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// hasRevisionHistoryLimit reports whether old ReplicaSets are trimmed.
func hasRevisionHistoryLimit(d *appsv1.Deployment) bool {
	return d.Spec.RevisionHistoryLimit != nil && *d.Spec.RevisionHistoryLimit != math.MaxInt32
}
