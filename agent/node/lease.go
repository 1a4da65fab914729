package node

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// leaseRetryMin is the first wait after a failed renewal; it doubles up to
// the renewal interval.
const leaseRetryMin = 200 * time.Millisecond

// runLease renews the node's Lease every LeaseInterval until ctx ends,
// retrying sooner after a failure, as the kubelet's node lease controller.
func (n *Node) runLease(ctx context.Context) {
	var latest *coordinationv1.Lease
	retry := leaseRetryMin
	for {
		lease, err := n.renewLease(ctx, latest)
		wait := n.cfg.LeaseInterval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("renew node lease", "err", err, "retry", min(retry, wait))
			wait = min(retry, wait)
			retry *= 2
		} else {
			retry = leaseRetryMin
		}
		latest = lease
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// renewLease renews the Lease from latest, the copy last written, so that
// a renewal is one write. Without a copy, or when that write fails, it
// reads the Lease (creating it if there is none) and renews that. It
// returns the Lease written, or nil on failure.
func (n *Node) renewLease(ctx context.Context, latest *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := n.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	if latest != nil {
		l, err := leases.Update(ctx, n.renewed(latest), metav1.UpdateOptions{})
		if err == nil {
			return l, nil
		}
		n.log.Debug("renew node lease from the last copy", "err", err)
	}
	current, err := leases.Get(ctx, n.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n.cfg.Name, Namespace: corev1.NamespaceNodeLease}}
		created, err := leases.Create(ctx, n.renewed(l), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create lease: %w", err)
		}
		return created, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	l, err := leases.Update(ctx, n.renewed(current), metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update lease: %w", err)
	}
	return l, nil
}

// renewed is a copy of l held by this node, renewed now and owned by the
// Node (when l has no owner yet and the Node's UID is known, as the
// kubelet sets it), so that deleting the Node deletes its Lease.
func (n *Node) renewed(l *coordinationv1.Lease) *coordinationv1.Lease {
	l = l.DeepCopy()
	now := metav1.NewMicroTime(n.cfg.Now())
	l.Spec.HolderIdentity = ptr.To(n.cfg.Name)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(n.cfg.LeaseDuration / time.Second))
	l.Spec.RenewTime = &now
	if uid, _ := n.uid.Load().(types.UID); uid != "" && len(l.OwnerReferences) == 0 {
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: corev1.SchemeGroupVersion.Version, Kind: "Node", Name: n.cfg.Name, UID: uid,
		}}
	}
	return l
}
