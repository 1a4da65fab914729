package daemonset

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// unavailableCount is ds's maxUnavailable for desired pods (rounded up); 0
// without a rolling update.
func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	s := ds.Spec.UpdateStrategy
	if s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate == nil {
		return 0, nil
	}
	return scaled(s.RollingUpdate.MaxUnavailable, desired)
}

// surgeCount is ds's maxSurge for desired pods (rounded up); 0 without a
// rolling update or a maxSurge.
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	s := ds.Spec.UpdateStrategy
	if s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxSurge == nil {
		return 0, nil
	}
	return scaled(s.RollingUpdate.MaxSurge, desired)
}

func scaled(v *intstr.IntOrString, total int) (int, error) {
	if v == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(v, total, true)
}

// updatedPodsOnNode returns a node's pod at the current template and its
// other pod, ignoring pods being deleted; ok is false if there are more.
func updatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	generation := templateGeneration(ds)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(p, hash, generation) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate replaces out-of-date daemon pods. Without surge it deletes
// old pods (unavailable ones at once, available ones while fewer than
// maxUnavailable daemon pods are unavailable) and lets manage create their
// replacements. With surge it creates new pods next to available old ones
// (at most maxSurge at a time) and deletes each old pod once its
// replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.podsByNode(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	maxSurge, maxUnavailable, err := c.desiredCounts(ds, nodes, byNode)
	if err != nil {
		return fmt.Errorf("couldn't get unavailable numbers: %w", err)
	}
	now := c.now()
	minReady := ds.Spec.MinReadySeconds
	nodeNames := make([]string, 0, len(byNode))
	for n := range byNode {
		nodeNames = append(nodeNames, n)
	}
	sort.Strings(nodeNames)

	if maxSurge == 0 {
		var unavailable int
		var replace, candidates []string
		for _, node := range nodeNames {
			newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[node], hash)
			switch {
			case !ok:
				// manage will delete the extra pods; count the node unavailable.
				unavailable++
			case (oldPod == nil) == (newPod == nil):
				// A pod is missing or about to go: unavailable.
				unavailable++
			case newPod != nil:
				if !isAvailable(newPod, minReady, now) {
					unavailable++
				}
			case !isAvailable(oldPod, minReady, now):
				replace = append(replace, oldPod.Name)
			case unavailable < maxUnavailable:
				candidates = append(candidates, oldPod.Name)
			}
		}
		room := min(max(maxUnavailable-unavailable, 0), len(candidates))
		c.logger.Debug("rolling update", "daemonset", dsKey(ds), "replacing", len(replace)+room, "maxUnavailable", maxUnavailable, "unavailable", unavailable)
		return c.syncNodes(ctx, ds, append(replace, candidates[:room]...), nil, hash)
	}

	var remove, allowed, candidates []string
	var surging int
	for _, node := range nodeNames {
		newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[node], hash)
		switch {
		case !ok:
			surging++
		case oldPod == nil:
			// Up to date or empty: manage's business.
		case newPod == nil:
			switch {
			case !isAvailable(oldPod, minReady, now):
				allowed = append(allowed, node)
			case surging < maxSurge:
				candidates = append(candidates, node)
			}
		case !isAvailable(newPod, minReady, now):
			surging++
		default:
			remove = append(remove, oldPod.Name)
		}
	}
	room := min(max(maxSurge-surging, 0), len(candidates))
	c.logger.Debug("rolling update with surge", "daemonset", dsKey(ds), "creating", len(allowed)+room, "maxSurge", maxSurge, "surging", surging)
	return c.syncNodes(ctx, ds, remove, append(allowed, candidates[:room]...), hash)
}

// desiredCounts returns ds's maxSurge and maxUnavailable for the nodes that
// should run it (adding those nodes to byNode). A DaemonSet that allows
// neither gets maxUnavailable 1.
func (c *Controller) desiredCounts(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod) (int, int, error) {
	desired := 0
	for _, node := range nodes {
		if run, _ := shouldRun(node, ds); !run {
			continue
		}
		desired++
		if _, ok := byNode[node.Name]; !ok {
			byNode[node.Name] = nil
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return -1, -1, fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return -1, -1, fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		c.logger.Info("daemonset allows neither surge nor unavailability; accepting one unavailable", "daemonset", dsKey(ds))
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, nil
}
