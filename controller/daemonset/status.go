package daemonset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusRetries is how many times a status write is retried over a fresh
// copy (Kubernetes' StatusUpdateRetries).
const statusRetries = 1

// countStatus computes ds's status counts over nodes: desired (nodes that
// should run it), current (those with a pod), misscheduled (pods on nodes
// that should not run it), and, judging each node by its oldest pod, ready,
// available and updated pods; unavailable is desired minus available.
func (c *Controller) countStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) appsv1.DaemonSetStatus {
	var st appsv1.DaemonSetStatus
	now := c.now()
	generation := templateGeneration(ds)
	for _, node := range nodes {
		run, _ := shouldRun(node, ds)
		pods := byNode[node.Name]
		if !run {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		sortOldestFirst(pods)
		pod := pods[0]
		if isReady(pod) {
			st.NumberReady++
			if isAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isUpdated(pod, hash, generation) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// updateStatus writes ds's status counts, and its observed generation if
// observed, when they changed.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observed bool) error {
	byNode, err := c.podsByNode(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	st := c.countStatus(ds, nodes, byNode, hash)
	if err := c.storeStatus(ctx, ds, st, observed); err != nil {
		return fmt.Errorf("error storing status for daemon set %s: %w", dsKey(ds), err)
	}
	// Look again when pods may have become available (against clock skew).
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.worker.AddAfter(dsKey(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

func (c *Controller) storeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus, observed bool) error {
	old := ds.Status
	if old.DesiredNumberScheduled == st.DesiredNumberScheduled &&
		old.CurrentNumberScheduled == st.CurrentNumberScheduled &&
		old.NumberMisscheduled == st.NumberMisscheduled &&
		old.NumberReady == st.NumberReady &&
		old.UpdatedNumberScheduled == st.UpdatedNumberScheduled &&
		old.NumberAvailable == st.NumberAvailable &&
		old.NumberUnavailable == st.NumberUnavailable &&
		old.ObservedGeneration >= ds.Generation {
		return nil
	}
	api := c.client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	for i := 0; ; i++ {
		if observed {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = st.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = st.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = st.NumberMisscheduled
		toUpdate.Status.NumberReady = st.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = st.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = st.NumberAvailable
		toUpdate.Status.NumberUnavailable = st.NumberUnavailable
		_, err := api.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil || i >= statusRetries {
			return err
		}
		if toUpdate, err = api.Get(ctx, ds.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}
