package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// leaseNamespace holds the nodes' heartbeat Leases.
const leaseNamespace = corev1.NamespaceNodeLease

// syncNode registers node name if it is not yet, or else beats its heart:
// it renews the Lease and posts the node's status if it changed or is due.
// It schedules the node's next beat itself.
func (s *Sim) syncNode(ctx context.Context, name string) error {
	n := s.node(name)
	if n == nil || n.isStopped() {
		return nil
	}
	n.mu.Lock()
	registered := n.registered
	n.mu.Unlock()
	if !registered {
		if err := s.register(ctx, n); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("register node", "node", name, "err", err)
				s.nodeWorker.AddAfter(name, defaultRetryInterval)
			}
			return nil
		}
		s.nodeWorker.AddAfter(name, s.firstBeat(n.index))
		return nil
	}
	next := s.cfg.HeartbeatInterval
	statusErr := s.postStatus(ctx, n)
	if errors.Is(statusErr, errNodeGone) {
		// Someone deleted the node. A kubelet does not register again; it
		// keeps failing until it is restarted. Keep quiet and look again
		// next time (the Lease, owned by the deleted node, is left to the
		// garbage collector).
		n.mu.Lock()
		first := !n.gone
		n.gone = true
		n.mu.Unlock()
		if first {
			s.log.Warn("node deleted; its heartbeat waits for it to come back", "node", name)
		}
		s.nodeWorker.AddAfter(name, next)
		return nil
	}
	n.mu.Lock()
	n.gone = false
	n.mu.Unlock()
	leaseErr := s.renewLease(ctx, n)
	if ctx.Err() != nil {
		return nil
	}
	for _, err := range []error{leaseErr, statusErr} {
		if err != nil {
			s.log.Warn("node heartbeat", "node", name, "err", err)
			next = min(next, defaultRetryInterval)
		}
	}
	s.nodeWorker.AddAfter(name, next)
	return nil
}

// firstBeat spreads the nodes' beats over the heartbeat interval: node i
// beats at the fractional part of i times the golden ratio, so nodes added
// later still fall between the others.
func (s *Sim) firstBeat(i int) time.Duration {
	_, frac := math.Modf(float64(i) * 0.6180339887498949)
	return time.Duration(frac * float64(s.cfg.HeartbeatInterval))
}

// register creates the node, or adopts the one left by an earlier run (the
// kubelet reconciles its default labels), then writes its status and Lease.
func (s *Sim) register(ctx context.Context, n *simNode) error {
	now := time.Now()
	want := s.nodeObject(n, now)
	node, err := s.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		if node, err = s.adopt(ctx, n, want); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.uid = node.UID
	n.mu.Unlock()
	if len(node.Status.Conditions) == 0 || nodeStatusChanged(&node.Status, &want.Status) {
		if err := s.writeStatus(ctx, n, node, now); err != nil {
			return err
		}
	}
	if err := s.renewLease(ctx, n); err != nil {
		return err
	}
	// Take back the pod IPs of pods an earlier run started before any new
	// pod gets one, then run the node's pods.
	s.reservePodIPs(n)
	n.mu.Lock()
	n.registered = true
	n.lastReport = now
	n.mu.Unlock()
	s.queueNodePods(n.name)
	s.log.Debug("node registered", "node", n.name)
	return nil
}

// adopt takes over an existing node of the same name: it adds missing
// default labels and uses the node's pod CIDR if it has another one.
func (s *Sim) adopt(ctx context.Context, n *simNode, want *corev1.Node) (*corev1.Node, error) {
	node, err := s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get existing node %s: %w", n.name, err)
	}
	if node.Spec.PodCIDR != "" && node.Spec.PodCIDR != n.podCIDR.String() {
		if p, err := parsePrefix4(node.Spec.PodCIDR); err == nil {
			n.mu.Lock()
			n.podCIDR = p
			n.pool = newIPPool(p)
			n.mu.Unlock()
		}
	}
	changed := false
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		if node.Labels[k] != v {
			node.Labels[k] = v
			changed = true
		}
	}
	if node.Spec.PodCIDR == "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		changed = true
	}
	if !changed {
		return node, nil
	}
	node, err = s.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update existing node %s: %w", n.name, err)
	}
	return node, nil
}

// errNodeGone says a registered node's Node object was deleted.
var errNodeGone = errors.New("node not found")

// postStatus posts the node's status when it differs from what the API
// server has (say the node controller marked it Unknown), or when the
// report interval has passed.
func (s *Sim) postStatus(ctx context.Context, n *simNode) error {
	now := time.Now()
	node, err := s.nodeLister.Get(n.name)
	if apierrors.IsNotFound(err) {
		// Not in the cache yet: read it.
		node, err = s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return errNodeGone
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", n.name, err)
	}
	n.mu.Lock()
	if node.UID != "" && node.UID != n.uid {
		n.uid = node.UID // created again by someone: the Lease follows
	}
	n.mu.Unlock()
	n.mu.Lock()
	due := now.Sub(n.lastReport) >= s.cfg.StatusReportInterval
	n.mu.Unlock()
	want := s.nodeStatus(n, &node.Status, now)
	if !due && !nodeStatusChanged(&node.Status, &want) {
		return nil
	}
	return s.writeStatus(ctx, n, node, now)
}

// writeStatus writes the kubelet's status over node's, reading the node
// again once on a conflict.
func (s *Sim) writeStatus(ctx context.Context, n *simNode, node *corev1.Node, now time.Time) error {
	for attempt := 0; ; attempt++ {
		upd := node.DeepCopy()
		upd.Status = s.nodeStatus(n, &node.Status, now)
		_, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			n.mu.Lock()
			n.lastReport = now
			n.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return fmt.Errorf("update status of node %s: %w", n.name, err)
		}
		if node, err = s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get node %s: %w", n.name, err)
		}
	}
}

// renewLease renews the node's Lease from its last copy, so that a
// renewal is one write, as the kubelet's lease controller does. Without a
// copy (first renewal, or the last one failed) it creates the Lease, owned
// by the Node, or reads the existing one and renews that.
func (s *Sim) renewLease(ctx context.Context, n *simNode) error {
	n.mu.Lock()
	cached := n.lease
	uid := n.uid
	n.mu.Unlock()
	now := metav1.NewMicroTime(time.Now())
	leases := s.client.CoordinationV1().Leases(leaseNamespace)
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: uid}}
	renewed := func(l *coordinationv1.Lease) {
		l.Spec.HolderIdentity = ptr.To(n.name)
		l.Spec.LeaseDurationSeconds = ptr.To(int32(s.cfg.LeaseDuration / time.Second))
		l.Spec.RenewTime = &now
		if uid != "" && !ownedBy(l.OwnerReferences, uid) {
			l.OwnerReferences = owner
		}
	}
	var (
		lease *coordinationv1.Lease
		err   error
	)
	if cached == nil {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: leaseNamespace}}
		renewed(l)
		lease, err = leases.Create(ctx, l, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cached, err = leases.Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get lease %s: %w", n.name, err)
			}
		} else if err != nil {
			return fmt.Errorf("create lease %s: %w", n.name, err)
		}
	}
	if lease == nil {
		l := cached.DeepCopy()
		renewed(l)
		lease, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.lease = nil
		return fmt.Errorf("renew lease %s: %w", n.name, err)
	}
	n.lease = lease
	return nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}
