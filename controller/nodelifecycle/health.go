package nodelifecycle

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeHealth is what the controller last saw of a node, with the local
// times it saw it: the controller trusts its own clock, not the node's.
type nodeHealth struct {
	probeTimestamp           time.Time
	readyTransitionTimestamp time.Time
	status                   *corev1.NodeStatus
	lease                    *coordinationv1.Lease
}

func (h *nodeHealth) copy() *nodeHealth {
	if h == nil {
		return nil
	}
	out := *h
	out.status = h.status.DeepCopy()
	out.lease = h.lease.DeepCopy()
	return &out
}

type healthMap struct {
	mu sync.RWMutex
	m  map[string]*nodeHealth
}

func (h *healthMap) get(name string) *nodeHealth {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.m[name].copy()
}

func (h *healthMap) set(name string, v *nodeHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[name] = v
}

func nodeCondition(status *corev1.NodeStatus, t corev1.NodeConditionType) *corev1.NodeCondition {
	if status == nil {
		return nil
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// unknownConditions are the conditions set to Unknown when a node goes
// silent (NetworkUnavailable belongs to the network plugin, not the node).
var unknownConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// tryUpdateNodeHealth records what node shows of its heartbeats and, when
// neither its Ready condition nor its Lease was renewed within the grace
// period, sets its conditions to Unknown. It returns the Ready condition
// as observed and as it is now (nil when the node never posted one); node
// is updated in place.
func (c *Controller) tryUpdateNodeHealth(ctx context.Context, node *corev1.Node) (corev1.NodeCondition, *corev1.NodeCondition, error) {
	health := c.health.get(node.Name)
	defer func() { c.health.set(node.Name, health) }()
	now := c.now()

	var observed corev1.NodeCondition
	var grace time.Duration
	current := nodeCondition(&node.Status, corev1.NodeReady)
	if current == nil {
		// Never posted: pretend it did when it was created, and give it
		// the startup grace period.
		observed = corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp,
		}
		grace = c.cfg.NodeStartupGracePeriod
		if health != nil {
			health.status = &node.Status
		} else {
			health = &nodeHealth{status: &node.Status, probeTimestamp: node.CreationTimestamp.Time, readyTransitionTimestamp: node.CreationTimestamp.Time}
		}
	} else {
		observed = *current
		grace = c.grace
	}

	var saved *corev1.NodeCondition
	var savedLease *coordinationv1.Lease
	if health != nil {
		saved = nodeCondition(health.status, corev1.NodeReady)
		savedLease = health.lease
	}
	switch {
	case health == nil:
		c.logger.Info("missing timestamp for node; assuming now", "node", node.Name)
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: now}
	case saved == nil && current != nil:
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: now}
	case saved != nil && current == nil:
		c.logger.Error("ready condition was removed from node status", "node", node.Name)
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: now}
	case saved != nil && current != nil && !saved.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		transition := health.readyTransitionTimestamp
		if !saved.LastTransitionTime.Equal(&current.LastTransitionTime) {
			transition = now
		}
		health = &nodeHealth{status: &node.Status, probeTimestamp: now, readyTransitionTimestamp: transition}
	}

	// A renewed Lease is a heartbeat too.
	lease, _ := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if lease != nil && lease.Spec.RenewTime != nil &&
		(savedLease == nil || savedLease.Spec.RenewTime == nil || savedLease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		health.lease = lease
		health.probeTimestamp = now
	}

	if !now.After(health.probeTimestamp.Add(grace)) {
		return observed, current, nil
	}
	stamp := metav1.NewTime(now)
	for _, t := range unknownConditions {
		cond := nodeCondition(&node.Status, t)
		if cond == nil {
			c.logger.Debug("node condition never updated", "node", node.Name, "condition", t)
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: stamp,
			})
			continue
		}
		if cond.Status != corev1.ConditionUnknown {
			cond.Status = corev1.ConditionUnknown
			cond.Reason = "NodeStatusUnknown"
			cond.Message = "Kubelet stopped posting node status."
			cond.LastTransitionTime = stamp
		}
	}
	current = nodeCondition(&node.Status, corev1.NodeReady)
	if apiequality.Semantic.DeepEqual(current, &observed) {
		return observed, current, nil
	}
	c.logger.Info("node stopped posting status", "node", node.Name, "silentFor", now.Sub(health.probeTimestamp).String())
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return observed, current, err
	}
	health = &nodeHealth{status: &node.Status, probeTimestamp: health.probeTimestamp, readyTransitionTimestamp: now, lease: lease}
	return observed, current, nil
}

// updateNodeHealth runs tryUpdateNodeHealth, re-reading the node after a
// failed write, a few times.
func (c *Controller) updateNodeHealth(ctx context.Context, node *corev1.Node) (corev1.NodeCondition, *corev1.NodeCondition, *corev1.Node, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		observed, current, err := c.tryUpdateNodeHealth(ctx, node)
		if err == nil {
			return observed, current, node, nil
		}
		lastErr = err
		n, err := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return observed, current, node, err
		}
		node = n
		select {
		case <-ctx.Done():
			return observed, current, node, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return corev1.NodeCondition{}, nil, node, lastErr
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
