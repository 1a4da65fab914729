package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// monitorNodeHealth is one pass over all nodes: it marks silent nodes
// Unknown, queues NoExecute taints for nodes that are not ready, removes
// them from ready ones, marks pods of nodes that just became not ready
// not ready, and adapts the tainting rate of each zone to its health.
func (c *Controller) monitorNodeHealth(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	added, deleted, newZones := c.classifyNodes(nodes)
	for _, n := range newZones {
		c.addZone(n)
	}
	for _, n := range added {
		c.logger.Info("observed a new node", "node", n.Name)
		c.nodeEvent(n, corev1.EventTypeNormal, "RegisteredNode", fmt.Sprintf("Node %s event: Registered Node %s in Controller", n.Name, n.Name))
		c.known[n.Name] = n
		c.addZone(n)
		if _, err := c.markNodeAsReachable(ctx, n); err != nil {
			c.logger.Error("remove NoExecute taints", "node", n.Name, "err", err)
		}
	}
	for _, n := range deleted {
		c.logger.Info("observed a node deletion", "node", n.Name)
		c.nodeEvent(n, corev1.EventTypeNormal, "RemovingNode", fmt.Sprintf("Node %s event: Removing Node %s from Controller", n.Name, n.Name))
		delete(c.known, n.Name)
	}

	var mu sync.Mutex
	zoneConditions := map[string][]*corev1.NodeCondition{}
	parallelize(ctx, c.workers, len(nodes), func(i int) {
		node := nodes[i].DeepCopy()
		observed, current, node, err := c.updateNodeHealth(ctx, node)
		if err != nil {
			c.logger.Error("update node health; no pods will be evicted", "node", node.Name, "err", err)
			return
		}
		if _, excluded := node.Labels[excludeDisruptionLabel]; !excluded {
			mu.Lock()
			zoneConditions[zoneKey(node)] = append(zoneConditions[zoneKey(node)], current)
			mu.Unlock()
		}
		if current == nil {
			c.retry.Delete(node.Name)
			return
		}
		pods, err := c.podsByNode(node.Name)
		if err != nil {
			c.logger.Error("list pods of node", "node", node.Name, "err", err)
			if current.Status != corev1.ConditionTrue && observed.Status == corev1.ConditionTrue {
				c.retry.Store(node.Name, struct{}{})
			}
			return
		}
		c.processTaintBasedEviction(ctx, node, observed)
		_, needsRetry := c.retry.Load(node.Name)
		becameNotReady := current.Status != corev1.ConditionTrue && observed.Status == corev1.ConditionTrue
		if becameNotReady {
			c.nodeEvent(node, corev1.EventTypeNormal, "NodeNotReady", fmt.Sprintf("Node %s status is now: NodeNotReady", node.Name))
		}
		if becameNotReady || (needsRetry && observed.Status != corev1.ConditionTrue) {
			if err := c.markPodsNotReady(ctx, pods, node.Name); err != nil {
				c.logger.Error("mark pods not ready; will retry", "node", node.Name, "err", err)
				c.retry.Store(node.Name, struct{}{})
				return
			}
		}
		c.retry.Delete(node.Name)
	})
	c.handleDisruption(ctx, zoneConditions, nodes)
	return nil
}

// parallelize runs f(0..n-1) on up to workers goroutines.
func parallelize(ctx context.Context, workers, n int, f func(int)) {
	if workers < 1 {
		workers = 1
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// classifyNodes splits nodes into those not seen before, those gone, and
// known ones of a zone with no state yet.
func (c *Controller) classifyNodes(nodes []*corev1.Node) (added, deleted, newZones []*corev1.Node) {
	present := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		present[n.Name] = true
		if _, ok := c.known[n.Name]; !ok {
			added = append(added, n)
		} else if _, ok := c.zoneStates[zoneKey(n)]; !ok {
			newZones = append(newZones, n)
		}
	}
	for name, n := range c.known {
		if !present[name] {
			deleted = append(deleted, n)
		}
	}
	return added, deleted, newZones
}

// addZone starts tracking the zone of node.
func (c *Controller) addZone(node *corev1.Node) {
	zone := zoneKey(node)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.zoneStates[zone]; ok {
		return
	}
	c.zoneStates[zone] = stateInitial
	c.tainters[zone] = newTainter(c.cfg.NodeEvictionRate, c.now())
}

// processTaintBasedEviction queues the NoExecute taint matching the
// node's Ready condition (swapping the other one at once), or removes both
// when it is ready.
func (c *Controller) processTaintBasedEviction(ctx context.Context, node *corev1.Node, observed corev1.NodeCondition) {
	switch observed.Status {
	case corev1.ConditionFalse:
		if hasTaint(node.Spec.Taints, unreachableTaint) {
			if err := c.taints.swap(ctx, node.Name, node, []corev1.Taint{notReadyTaint}, []corev1.Taint{unreachableTaint}); err != nil {
				c.logger.Error("swap unreachable taint to not-ready; will retry", "node", node.Name, "err", err)
			}
		} else if c.markNodeForTainting(node, corev1.ConditionFalse) {
			c.logger.Info("node is not ready; queued for tainting", "node", node.Name)
		}
	case corev1.ConditionUnknown:
		if hasTaint(node.Spec.Taints, notReadyTaint) {
			if err := c.taints.swap(ctx, node.Name, node, []corev1.Taint{unreachableTaint}, []corev1.Taint{notReadyTaint}); err != nil {
				c.logger.Error("swap not-ready taint to unreachable; will retry", "node", node.Name, "err", err)
			}
		} else if c.markNodeForTainting(node, corev1.ConditionUnknown) {
			c.logger.Info("node is unreachable; queued for tainting", "node", node.Name)
		}
	case corev1.ConditionTrue:
		removed, err := c.markNodeAsReachable(ctx, node)
		if err != nil {
			c.logger.Error("remove NoExecute taints; will retry", "node", node.Name, "err", err)
		}
		if removed {
			c.logger.Info("node is ready again", "node", node.Name)
		}
	}
}

// markNodeForTainting queues node in its zone; a node whose taint went
// missing is queued again.
func (c *Controller) markNodeForTainting(node *corev1.Node, status corev1.ConditionStatus) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tainters[zoneKey(node)]
	if t == nil {
		return false
	}
	if status == corev1.ConditionFalse && !hasTaint(node.Spec.Taints, notReadyTaint) ||
		status == corev1.ConditionUnknown && !hasTaint(node.Spec.Taints, unreachableTaint) {
		t.remove(node.Name)
	}
	return t.add(node.Name, c.now())
}

// markNodeAsReachable removes node's NoExecute taints and forgets it in
// its zone's queue; true if it was queued or tainted.
func (c *Controller) markNodeAsReachable(ctx context.Context, node *corev1.Node) (bool, error) {
	if hasTaint(node.Spec.Taints, unreachableTaint) || hasTaint(node.Spec.Taints, notReadyTaint) {
		if err := c.taints.swap(ctx, node.Name, node, nil, []corev1.Taint{unreachableTaint, notReadyTaint}); err != nil {
			return false, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tainters[zoneKey(node)]
	if t == nil {
		return false, nil
	}
	return t.remove(node.Name), nil
}

// taintPass applies the queued NoExecute taints each zone's rate allows.
func (c *Controller) taintPass(ctx context.Context) {
	c.mu.Lock()
	zones := make([]string, 0, len(c.tainters))
	for z := range c.tainters {
		zones = append(zones, z)
	}
	c.mu.Unlock()
	for _, zone := range zones {
		for ctx.Err() == nil {
			c.mu.Lock()
			name, ok := c.tainters[zone].next(c.now())
			c.mu.Unlock()
			if !ok {
				break
			}
			done, retry := c.taintNode(ctx, name)
			c.mu.Lock()
			c.tainters[zone].done(name, done, retry, c.now())
			c.mu.Unlock()
		}
	}
}

// taintNode gives a queued node the NoExecute taint of its Ready
// condition; false and a delay when it should be tried again.
func (c *Controller) taintNode(ctx context.Context, name string) (bool, time.Duration) {
	node, err := c.nodes.Get(name)
	if err != nil {
		if ignoreNotFound(err) == nil {
			return true, 0
		}
		return false, 50 * time.Millisecond
	}
	ready := nodeCondition(&node.Status, corev1.NodeReady)
	if ready == nil {
		return false, 50 * time.Millisecond
	}
	var add, opposite corev1.Taint
	switch ready.Status {
	case corev1.ConditionFalse:
		add, opposite = notReadyTaint, unreachableTaint
	case corev1.ConditionUnknown:
		add, opposite = unreachableTaint, notReadyTaint
	default:
		return true, 0 // ready again
	}
	if err := c.taints.swap(ctx, name, node, []corev1.Taint{add}, []corev1.Taint{opposite}); err != nil {
		c.logger.Error("taint node", "node", name, "taint", add.Key, "err", err)
		return false, 0
	}
	c.logger.Info("tainted node", "node", name, "taint", add.Key, "effect", add.Effect)
	return true, 0
}

// handleDisruption updates the zones' states and tainting rates. When
// every zone is fully disrupted — most likely the control plane lost its
// network, not the nodes their health — it stops tainting and removes the
// NoExecute taints; when some node comes back it resumes, counting every
// node's grace period afresh.
func (c *Controller) handleDisruption(ctx context.Context, zoneConditions map[string][]*corev1.NodeCondition, nodes []*corev1.Node) {
	newStates := map[string]zoneState{}
	allAreFullyDisrupted := true
	c.mu.Lock()
	for zone, conds := range zoneConditions {
		_, state := computeZoneState(conds, c.cfg.UnhealthyZoneThreshold)
		if state != stateFullDisruption {
			allAreFullyDisrupted = false
		}
		newStates[zone] = state
		if _, ok := c.zoneStates[zone]; !ok {
			c.zoneStates[zone] = stateInitial
			c.tainters[zone] = newTainter(c.cfg.NodeEvictionRate, c.now())
		}
	}
	allWereFullyDisrupted := true
	for zone, state := range c.zoneStates {
		if _, ok := zoneConditions[zone]; !ok {
			delete(c.zoneStates, zone)
			continue
		}
		if state != stateFullDisruption {
			allWereFullyDisrupted = false
		}
	}
	c.mu.Unlock()
	if allAreFullyDisrupted && allWereFullyDisrupted {
		return
	}
	now := c.now()
	switch {
	case allAreFullyDisrupted:
		c.logger.Info("all nodes are not ready; entering master disruption mode")
		for _, n := range nodes {
			if _, err := c.markNodeAsReachable(ctx, n); err != nil {
				c.logger.Error("remove NoExecute taints", "node", n.Name, "err", err)
			}
		}
		c.mu.Lock()
		for zone := range c.zoneStates {
			c.tainters[zone].bucket.swap(0, now)
			c.zoneStates[zone] = stateFullDisruption
		}
		c.mu.Unlock()
	case allWereFullyDisrupted:
		c.logger.Info("some nodes are ready; exiting master disruption mode")
		for _, n := range nodes {
			if h := c.health.get(n.Name); h != nil {
				h.probeTimestamp, h.readyTransitionTimestamp = now, now
				c.health.set(n.Name, h)
			}
		}
		c.mu.Lock()
		for zone := range c.zoneStates {
			c.setZoneRate(zone, len(zoneConditions[zone]), newStates[zone], now)
			c.zoneStates[zone] = newStates[zone]
		}
		c.mu.Unlock()
	default:
		c.mu.Lock()
		for zone, state := range c.zoneStates {
			if state == newStates[zone] {
				continue
			}
			c.logger.Info("zone changed state", "zone", zone, "state", string(newStates[zone]))
			c.setZoneRate(zone, len(zoneConditions[zone]), newStates[zone], now)
			c.zoneStates[zone] = newStates[zone]
		}
		c.mu.Unlock()
	}
}

// setZoneRate sets a zone's tainting rate for its state; c.mu is held.
func (c *Controller) setZoneRate(zone string, size int, state zoneState, now time.Time) {
	t := c.tainters[zone]
	if t == nil {
		return
	}
	switch state {
	case stateNormal, stateFullDisruption:
		t.bucket.swap(c.cfg.NodeEvictionRate, now)
	case statePartialDisruption:
		rate := float32(0)
		if int32(size) > c.cfg.LargeClusterSizeThreshold {
			rate = c.cfg.SecondaryNodeEvictionRate
		}
		t.bucket.swap(rate, now)
	}
}
