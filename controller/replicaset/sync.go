package replicaset

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// slowStartInitialBatchSize is the size of the first batch of pod
// creations; each successful batch doubles the next.
const slowStartInitialBatchSize = 1

// replicas is spec.replicas (defaulted to 1 by the API server).
func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// sync brings one ReplicaSet to its desired number of pods and writes its
// status.
func (c *Controller) sync(ctx context.Context, k string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return fmt.Errorf("replicaset key %q: %w", k, err)
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.delete(k)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get replicaset %s: %w", k, err)
	}
	needsSync := c.exp.satisfied(k)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation forbids it; nothing to retry.
		c.logger.Error("invalid selector", "replicaSet", k, "err", err)
		return nil
	}
	// Every pod of the namespace: pods the selector no longer matches may
	// still point to rs and must be released.
	all, err := c.podLister.Pods(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods of %s: %w", k, err)
	}
	pods, err := c.claimPods(ctx, rs, selector, filterActive(all))
	if err != nil {
		return fmt.Errorf("claim pods of replicaset %s: %w", k, err)
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, pods, rs)
	}
	status := calculateStatus(rs, pods, manageErr, c.now())
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return fmt.Errorf("update status of replicaset %s: %w", k, err)
	}
	// Pods that are ready but not yet available become so with no event:
	// look again when minReadySeconds have passed.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) &&
		updated.Status.AvailableReplicas != replicas(updated) {
		c.queue.AddAfter(k, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// manageReplicas creates or deletes pods so that rs has spec.replicas of
// them, at most BurstReplicas per sync.
func (c *Controller) manageReplicas(ctx context.Context, pods []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	k := key(rs)
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		diff = min(-diff, c.cfg.BurstReplicas)
		c.exp.expectCreations(k, diff)
		c.logger.Debug("too few replicas", "replicaSet", k, "need", replicas(rs), "creating", diff)
		created, err := slowStartBatch(diff, slowStartInitialBatchSize, func() error {
			err := c.createPod(ctx, rs)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// Every creation would fail; nothing to report.
				return nil
			}
			return err
		})
		// Creations never attempted or failed will not be observed.
		for i := 0; i < diff-created; i++ {
			c.exp.creationObserved(k)
		}
		return err
	case diff > 0:
		diff = min(diff, c.cfg.BurstReplicas)
		c.logger.Debug("too many replicas", "replicaSet", k, "need", replicas(rs), "deleting", diff)
		victims := podsToDelete(pods, c.relatedPods(rs), diff, c.now())
		podKeys := make([]string, len(victims))
		for i, p := range victims {
			podKeys[i] = key(p)
		}
		c.exp.expectDeletions(k, podKeys)
		errs := make(chan error, len(victims))
		var wg sync.WaitGroup
		for _, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.deletePodOf(ctx, rs, p.Name); err != nil {
					// This deletion will not be observed.
					c.exp.deletionObserved(k, key(p))
					if !apierrors.IsNotFound(err) {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
		}
	}
	return nil
}

// slowStartBatch calls fn count times, in concurrent batches starting at
// initial and doubling while every call succeeds; it stops after the first
// batch with a failure and returns the number of successful calls.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}

// relatedPods are the pods of every ReplicaSet controlled by the same
// owner as rs (rs included): the pods a Deployment runs across its
// revisions. A ReplicaSet without controller has none, as in Kubernetes.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return nil
	}
	rss, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	seen := map[types.UID]bool{}
	var out []*corev1.Pod
	for _, other := range rss {
		oref := metav1.GetControllerOfNoCopy(other)
		if oref == nil || oref.UID != ref.UID {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(other.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := c.podLister.Pods(other.Namespace).List(sel)
		if err != nil {
			continue
		}
		for _, p := range pods {
			if !seen[p.UID] {
				seen[p.UID] = true
				out = append(out, p)
			}
		}
	}
	return out
}
