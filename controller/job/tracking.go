package job

import (
	"context"
	"fmt"
	"sort"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

// trackStatus counts finished pods exactly once and finishes the Job:
//
//  1. finished pods still carrying the tracking finalizer go to
//     .status.uncountedTerminatedPods (Indexed Jobs record succeeded
//     indexes in .status.completedIndexes instead), with the interim
//     FailureTarget or SuccessCriteriaMet condition, and the status is
//     written;
//  2. their finalizers are removed;
//  3. pods whose finalizer is gone move from the uncounted lists to the
//     succeeded and failed counters;
//  4. once nothing is uncounted or terminating, the Complete or Failed
//     condition is added.
//
// A crash between the steps loses nothing: the next sync resumes from the
// uncounted lists and the finalizers left.
func (c *Controller) trackStatus(ctx context.Context, st *syncState, needsFlush bool) error {
	job := st.job
	indexed := isIndexed(job)
	uncounted := job.Status.UncountedTerminatedPods
	pods := st.pods
	if indexed {
		pods = append([]*corev1.Pod(nil), pods...)
		sort.SliceStable(pods, func(i, j int) bool { return completionIndex(pods[i]) < completionIndex(pods[j]) })
	}
	withFinalizer := sets.New[string]()
	for _, p := range pods {
		if hasTrackingFinalizer(p) && !st.expectedRmFinalizers.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if moveCounted(&job.Status, withFinalizer) {
		needsFlush = true
	}

	var rmFinalizer []*corev1.Pod
	var newSucceededIndexes []int
	reachedMax := false
	for _, p := range pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || st.expectedRmFinalizers.Has(uid) {
			continue // counted in an earlier sync
		}
		failed := isPodFailed(p, job)
		if f := st.finished; f != nil && f.Type == batchv1.JobSuccessCriteriaMet && p.Status.Phase != corev1.PodFailed {
			// The lingering pods the success criteria stop are not
			// failures, whether or not their deletion was seen yet.
			failed = false
		}
		if !canRemoveFinalizer(st, p, failed) {
			continue
		}
		rmFinalizer = append(rmFinalizer, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !st.uncountedFailed.Has(uid):
			if indexed {
				// The index alone prevents counting twice.
				if ix := completionIndex(p); validIndex(job, p) && !st.prevSucceededIndexes.has(ix) {
					newSucceededIndexes = append(newSucceededIndexes, ix)
					needsFlush = true
				}
			} else if !st.uncountedSucceeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (st.finished != nil && st.finished.Type != batchv1.JobSuccessCriteriaMet):
			// When the Job fails, every pod not succeeded counts as failed.
			if st.uncountedFailed.Has(uid) || (indexed && !validIndex(job, p)) {
				break
			}
			if _, count, _ := matchFailurePolicy(job.Spec.PodFailurePolicy, p); count {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newSucceededIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= c.cfg.MaxUncountedPods {
			// Keep the status small; the status update brings the Job back.
			reachedMax = true
			break
		}
	}
	if indexed {
		st.succeededIndexes = st.succeededIndexes.withIndexes(newSucceededIndexes)
		if s := st.succeededIndexes.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			needsFlush = true
		}
		job.Status.Succeeded = int32(st.succeededIndexes.total())
		var failed *string
		if hasBackoffLimitPerIndex(job) {
			failed = ptr.To(st.failedIndexes.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failed) {
			job.Status.FailedIndexes = failed
			needsFlush = true
		}
	}
	now := c.now()
	if f := st.finished; f != nil && f.Type == batchv1.JobFailureTarget {
		// Record why the Job fails before its pods may go; Failed follows.
		job.Status.Conditions = append(job.Status.Conditions, *f)
		needsFlush = true
		st.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, f.Reason, f.Message, now)
	}
	if f := st.finished; f != nil && f.Type == batchv1.JobSuccessCriteriaMet {
		if conditionTrue(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *f)
			needsFlush = true
		}
		st.finished = newCondition(batchv1.JobComplete, corev1.ConditionTrue, f.Reason, f.Message, now)
	}

	needsFlush, err := c.flushAndRemoveFinalizers(ctx, st, rmFinalizer, withFinalizer, needsFlush)
	if err != nil {
		return err
	}
	finished := !reachedMax && c.enactFinished(st)
	if finished {
		needsFlush = true
	}
	if !needsFlush {
		return nil
	}
	if err := c.updateStatus(ctx, st); err != nil {
		return fmt.Errorf("remove uncounted pods from status: %w", err)
	}
	if finished {
		c.recordFinished(st.job, st.finished)
	}
	return nil
}

// canRemoveFinalizer: a pod may be released once it succeeded or failed,
// or when the whole Job is finishing or being deleted.
func canRemoveFinalizer(st *syncState, p *corev1.Pod, failed bool) bool {
	if st.job.DeletionTimestamp != nil || st.finished != nil || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	// With backoffLimitPerIndex the last failed pod of an index waits for
	// its replacement to carry the failure count on.
	if d, ok := st.delayed[completionIndex(p)]; ok && d.UID == p.UID {
		return false
	}
	return true
}

// flushAndRemoveFinalizers writes the status if needed (recording the
// uncounted pods), removes the finalizers, then moves the released pods to
// the counters. It writes the status again only if a removal failed, and
// reports whether a write is still pending.
func (c *Controller) flushAndRemoveFinalizers(ctx context.Context, st *syncState, pods []*corev1.Pod, withFinalizer sets.Set[string], needsFlush bool) (bool, error) {
	key := jobKey(st.job)
	if needsFlush {
		if err := c.updateStatus(ctx, st); err != nil {
			return needsFlush, fmt.Errorf("add uncounted pods to status: %w", err)
		}
		c.backoff.update(key, st.backoff)
		needsFlush = false
	}
	var rmErr error
	if len(pods) > 0 {
		var removed []bool
		removed, rmErr = c.removeFinalizers(ctx, key, pods)
		for i, p := range pods {
			if removed[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	if moveCounted(&st.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		if err := c.updateStatus(ctx, st); err != nil {
			return needsFlush, fmt.Errorf("remove uncounted pods from status: %w", err)
		}
		needsFlush = false
	}
	return needsFlush, rmErr
}

// moveCounted moves the uncounted pods whose finalizer is gone to the
// succeeded and failed counters; it reports a change.
func moveCounted(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := status.UncountedTerminatedPods
	changed := false
	if keep := filterUIDs(u.Succeeded, withFinalizer); len(keep) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(keep))
		u.Succeeded = keep
		changed = true
	}
	if keep := filterUIDs(u.Failed, withFinalizer); len(keep) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(keep))
		u.Failed = keep
		changed = true
	}
	return changed
}

func filterUIDs(uids []types.UID, keep sets.Set[string]) []types.UID {
	var out []types.UID
	for _, u := range uids {
		if keep.Has(string(u)) {
			out = append(out, u)
		}
	}
	return out
}

// removeFinalizers removes the tracking finalizer from pods concurrently;
// removed[i] tells whether pods[i] is released (a pod already gone is).
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.finalizers.expectRemoved(key, uids)
	removed := make([]bool, len(pods))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.patchPod(ctx, p.Namespace, p.Name, removeFinalizerPatch())
			if err != nil {
				c.finalizers.removalObserved(key, string(p.UID)) // no update will come
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", p.Namespace, p.Name, err))
					mu.Unlock()
					return
				}
			}
			removed[i] = true
		}()
	}
	wg.Wait()
	return removed, utilerrors.NewAggregate(errs)
}

// enactFinished adds the Complete or Failed condition once every pod is
// counted and none is terminating; it reports whether it did.
func (c *Controller) enactFinished(st *syncState) bool {
	f := st.finished
	if f == nil {
		return false
	}
	job := st.job
	if u := job.Status.UncountedTerminatedPods; len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if st.terminating > 0 {
		return false
	}
	job.Status.Conditions, _ = ensureCondition(job.Status.Conditions, f.Type, f.Status, f.Reason, f.Message, c.now())
	if f.Type == batchv1.JobComplete {
		job.Status.CompletionTime = &metav1.Time{Time: f.LastTransitionTime.Time}
	}
	return true
}

// recordFinished emits the events of a finished Job.
func (c *Controller) recordFinished(job *batchv1.Job, f *batchv1.JobCondition) {
	if f.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, eventTooManyPods, msgTooManyPods)
		}
		c.recorder.Event(job, corev1.EventTypeNormal, eventJobCompleted, msgJobCompleted)
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, f.Reason, f.Message)
}

// updateStatus writes the Job's status and continues from the stored
// object.
func (c *Controller) updateStatus(ctx context.Context, st *syncState) error {
	updated, err := c.client.BatchV1().Jobs(st.job.Namespace).UpdateStatus(ctx, st.job, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	if updated.Status.UncountedTerminatedPods == nil {
		updated.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	st.job = updated
	return nil
}
