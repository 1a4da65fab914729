package statefulset

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"berth/controller/history"
)

// maxBatch bounds the concurrent requests of a Parallel set.
const maxBatch = 500

// update brings set's pods and revisions to its spec and writes its status;
// it returns the status written. pods are the pods set owns.
func (c *Controller) update(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	set = set.DeepCopy()
	revs, err := c.history.List(set, selector)
	if err != nil {
		return nil, err
	}
	history.Sort(revs)
	current, update, collisionCount, err := c.revisions(ctx, set, revs)
	if err != nil {
		return nil, errors.Join(err, c.truncateHistory(ctx, set, pods, revs, nil, nil))
	}
	status, err := c.reconcile(ctx, set, current, update, collisionCount, pods)
	if status != nil {
		if statusErr := c.writeStatus(ctx, set, status); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
	}
	return status, errors.Join(err, c.truncateHistory(ctx, set, pods, revs, current, update))
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that are neither current, nor the update revision, nor any pod's.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	for _, r := range []*appsv1.ControllerRevision{current, update} {
		if r != nil {
			live[r.Name] = true
		}
	}
	for _, p := range pods {
		live[revision(p)] = true
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	for _, r := range history.Stale(revs, func(r *appsv1.ControllerRevision) bool { return live[r.Name] }, limit) {
		if err := c.history.Delete(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// reconcile creates, fixes and deletes pods so that set has its replicas
// at the right revisions, in the order its pod management policy asks for,
// and returns the status to record. A nil status comes with an error that
// happened before anything was done.
func (c *Controller) reconcile(ctx context.Context, set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return nil, err
	}
	now := c.now()
	minReady := set.Spec.MinReadySeconds
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     update.Name,
		CollisionCount:     &collisionCount,
	}
	countReplicas(status, minReady, now, current, update, pods)

	// The pods set wants, by ordinal, and the others ("condemned").
	start := startOrdinal(set)
	replicaPods := make([]*corev1.Pod, replicas(set))
	var condemned []*corev1.Pod
	for _, p := range pods {
		switch {
		case inOrdinalRange(p, set):
			replicaPods[ordinal(p)-start] = p
		case ordinal(p) >= 0:
			condemned = append(condemned, p)
		}
	}
	for i := range replicaPods {
		if replicaPods[i] == nil {
			replicaPods[i] = newVersionedPod(currentSet, updateSet, current.Name, update.Name, start+i)
		}
	}
	sortDescending(condemned)

	// The first unavailable pod: among the wanted ones by ordinal, else among
	// the condemned from the lowest ordinal.
	var firstUnavailable *corev1.Pod
	for _, p := range replicaPods {
		if isUnavailable(p, minReady, now) {
			firstUnavailable = p
			break
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnavailable == nil; i-- {
		if isUnavailable(condemned[i], minReady, now) {
			firstUnavailable = condemned[i]
		}
	}

	if set.DeletionTimestamp != nil {
		return status, nil
	}
	ordered := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	done := func(err error) (*appsv1.StatefulSetStatus, error) {
		countReplicas(status, minReady, now, current, update, replicaPods, condemned)
		return status, err
	}

	// Create and fix the wanted pods; in order, stop at the first one that
	// is not yet Running, Ready and available.
	if stop, err := runForAll(replicaPods, ordered, func(i int) (bool, error) {
		return c.processReplica(ctx, set, updateSet, ordered, replicaPods, i)
	}); stop || err != nil {
		return done(err)
	}
	// Delete the condemned, from the highest ordinal; in order, one at a
	// time and only when all others are healthy.
	if stop, err := runForAll(condemned, ordered, func(i int) (bool, error) {
		return c.processCondemned(ctx, set, firstUnavailable, ordered, condemned, i)
	}); stop || err != nil {
		return done(err)
	}
	countReplicas(status, minReady, now, current, update, replicaPods, condemned)

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	// Rolling update: delete the highest pod not at the update revision,
	// down to the partition, once every pod above it is available again.
	updateMin := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		updateMin = int(*ru.Partition)
	}
	for target := len(replicaPods) - 1; target >= updateMin; target-- {
		p := replicaPods[target]
		if revision(p) != update.Name && !isTerminating(p) {
			c.logger.Debug("terminating pod for update", "statefulset", key(set), "pod", p.Name)
			err := c.deletePod(ctx, set, p)
			if apierrors.IsNotFound(err) {
				err = nil
			}
			status.CurrentReplicas--
			return status, err
		}
		if isUnavailable(p, minReady, now) {
			c.logger.Debug("waiting for pod to update", "statefulset", key(set), "pod", p.Name)
			return status, nil
		}
	}
	return status, nil
}

// sortDescending orders pods from the highest ordinal to the lowest.
func sortDescending(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return ordinal(pods[i]) > ordinal(pods[j]) })
}

// processReplica brings the wanted pod i into being and shape. It returns
// true when an ordered set must not go further this round.
func (c *Controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, ordered bool, pods []*corev1.Pod, i int) (bool, error) {
	pod := pods[i]
	// A pod that stopped for good is replaced (it is recreated at the next
	// sync, once gone).
	if hasFinished(pod) {
		if pod.DeletionTimestamp == nil {
			if err := c.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		if err := c.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if ordered {
			return true, nil
		}
	}
	if isPending(pod) {
		if err := c.createClaims(ctx, set, pod); err != nil {
			return true, err
		}
	}
	if ordered {
		switch {
		case isTerminating(pod):
			c.logger.Debug("waiting for pod to terminate", "statefulset", key(set), "pod", pod.Name)
			return true, nil
		case !isRunningAndReady(pod):
			c.logger.Debug("waiting for pod to be running and ready", "statefulset", key(set), "pod", pod.Name)
			return true, nil
		case !isAvailable(pod, set.Spec.MinReadySeconds, c.now()):
			c.logger.Debug("waiting for pod to be available", "statefulset", key(set), "pod", pod.Name)
			return true, nil
		}
	}
	if identityMatches(set, pod) && storageMatches(set, pod) {
		return false, nil
	}
	return false, c.updatePod(ctx, updateSet, pod.DeepCopy())
}

// processCondemned deletes the unwanted pod i. It returns true when an
// ordered set must not go further this round.
func (c *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnavailable *corev1.Pod, ordered bool, condemned []*corev1.Pod, i int) (bool, error) {
	pod := condemned[i]
	if isTerminating(pod) {
		return ordered, nil
	}
	if ordered && pod != firstUnavailable &&
		(!isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, c.now())) {
		name := ""
		if firstUnavailable != nil {
			name = firstUnavailable.Name
		}
		c.logger.Debug("waiting for pod to be available before scaling down", "statefulset", key(set), "pod", name)
		return true, nil
	}
	c.logger.Debug("terminating pod for scale down", "statefulset", key(set), "pod", pod.Name)
	return true, c.deletePod(ctx, set, pod)
}

// runForAll calls fn for each pod: in order, stopping at the first that
// asks to stop or fails; or in parallel, in batches of 1, 2, 4, ... that
// stop growing at the first failure. It returns whether to stop.
func runForAll(pods []*corev1.Pod, ordered bool, fn func(int) (bool, error)) (bool, error) {
	if ordered {
		for i := range pods {
			if stop, err := fn(i); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	if err := slowStart(len(pods), fn); err != nil {
		return true, err
	}
	return false, nil
}

// slowStart runs fn(0..n-1) in concurrent batches that double in size while
// they succeed.
func slowStart(n int, fn func(int) (bool, error)) error {
	next := 0
	for size := min(n, 1); size > 0; size = min(2*size, n-next, maxBatch) {
		errs := make([]error, size)
		var wg sync.WaitGroup
		for i := 0; i < size; i++ {
			wg.Add(1)
			go func(i, k int) {
				defer wg.Done()
				_, errs[i] = fn(k)
			}(i, next+i)
		}
		wg.Wait()
		next += size
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

func key(set *appsv1.StatefulSet) slog.Value {
	return slog.StringValue(set.Namespace + "/" + set.Name)
}
