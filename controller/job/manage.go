package job

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// manageJob creates or deletes pods so that as many run as the Job wants:
// none when suspended; otherwise its parallelism, bounded by the
// completions still missing. New pods wait for the failure back-off. It
// returns the number of active pods after its changes.
func (c *Controller) manageJob(ctx context.Context, st *syncState) (int32, error) {
	job := st.job
	key := jobKey(job)
	active := int32(len(st.active))

	if suspended(job) {
		rm := podsForRemoval(job, st.active, len(st.active))
		return c.removeSurplus(ctx, st, key, active, rm)
	}

	var want int32
	switch {
	case job.Spec.Completions == nil && st.succeeded > 0:
		want = active // after a success, let the rest finish
	case job.Spec.Completions == nil:
		want = *job.Spec.Parallelism
	default:
		want = max(0, min(*job.Spec.Completions-st.succeeded, *job.Spec.Parallelism))
	}

	rm := podsForRemoval(job, st.active, int(max(0, active-want)))
	if len(rm) > c.cfg.MaxPodCreateDeletePerSync {
		rm = rm[:c.cfg.MaxPodCreateDeletePerSync]
	}
	if len(rm) > 0 {
		// A sync either deletes or creates; deletion first.
		return c.removeSurplus(ctx, st, key, active, rm)
	}

	terminating := int32(0)
	if onlyReplaceFailed(job) {
		terminating = st.terminating // replacements wait for these
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		if left := st.backoff.remaining(c.now(), c.cfg.PodFailureBackoff, c.cfg.MaxPodFailureBackoff); left > 0 {
			c.logger.Debug("pod creation backing off", "job", key, "wait", left)
			c.enqueue(job, max(left, c.cfg.SyncBatchPeriod))
			return active, nil
		}
	}
	diff = min(diff, int32(c.cfg.MaxPodCreateDeletePerSync))
	var indexes []int
	if isIndexed(job) {
		indexes = firstPendingIndexes(st, int(diff), int(*job.Spec.Completions))
		if hasBackoffLimitPerIndex(job) {
			// Each index backs off on its own failures.
			var left time.Duration
			if indexes, left = c.indexesReady(st, indexes); left > 0 {
				c.logger.Debug("pod creation backing off", "job", key, "wait", left)
				c.enqueue(job, max(left, c.cfg.SyncBatchPeriod))
				return active, nil
			}
		}
		diff = int32(len(indexes))
	}
	if diff == 0 {
		return active, nil
	}
	created, err := c.createPods(ctx, st, key, int(diff), indexes)
	return active + int32(created), err
}

// removeSurplus deletes pods (finalizer first) and updates the counts.
func (c *Controller) removeSurplus(ctx context.Context, st *syncState, key string, active int32, rm []*corev1.Pod) (int32, error) {
	if len(rm) == 0 {
		return active, nil
	}
	c.expectations.expect(key, 0, len(rm))
	deletedReady, deleted, err := c.deleteJobPods(ctx, st.job, key, rm)
	st.terminating += deleted
	st.ready -= deletedReady
	return active - deleted, err
}

// createPods creates n pods (one per index for Indexed Jobs) in batches
// of 1, 2, 4, ...: a batch with a failure stops the rest, so a Job that
// cannot create pods (quota, admission) does not hammer the API server.
// It returns how many were created.
func (c *Controller) createPods(ctx context.Context, st *syncState, key string, n int, indexes []int) (int, error) {
	job := st.job
	c.expectations.expect(key, n, 0)
	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addIndexEnv(template)
	}
	if !hasString(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	var (
		mu      sync.Mutex
		errs    []error
		created int
	)
	left := n
	for batch := min(left, 1); left > 0; batch = min(2*batch, left) {
		failedBefore := len(errs)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			ix := noIndex
			if len(indexes) > 0 {
				ix, indexes = indexes[0], indexes[1:]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t, generateName := template, ""
				if ix != noIndex {
					t = template.DeepCopy()
					generateName = indexedTemplate(t, job.Name, ix)
					if hasBackoffLimitPerIndex(job) {
						setFailureCounts(t, job, st.delayed[ix])
					}
				}
				err := c.createPod(ctx, job, newPod(job, t, generateName))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.expectations.creationObserved(key) // no event will come
					if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						errs = append(errs, fmt.Errorf("create pod of job %s: %w", key, err))
					}
					return
				}
				created++
			}()
		}
		wg.Wait()
		left -= batch
		if len(errs) > failedBefore && left > 0 {
			// Skip the rest; the next sync retries.
			for i := 0; i < left; i++ {
				c.expectations.creationObserved(key)
			}
			break
		}
	}
	return created, utilerrors.NewAggregate(errs)
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
