package job

import (
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Indexed Jobs with backoffLimitPerIndex count failures per index: each
// pod carries the failures of its index so far in the
// batch.kubernetes.io/job-index-failure-count annotation (and those a pod
// failure policy ignored in job-index-ignored-failure-count); an index
// fails once it reaches the limit or a FailIndex rule matches, and the Job
// fails when every index has succeeded or failed with at least one failed,
// or when more than maxFailedIndexes fail. A failed pod keeps its finalizer
// until its replacement exists, so the count passes on.

func hasBackoffLimitPerIndex(j *batchv1.Job) bool {
	return isIndexed(j) && j.Spec.BackoffLimitPerIndex != nil
}

// failedIndexes returns .status.failedIndexes plus the indexes of pods
// that failed for good since.
func failedIndexes(j *batchv1.Job, pods []*corev1.Pod) intervals {
	completions := int(*j.Spec.Completions)
	var prev intervals
	if j.Status.FailedIndexes != nil {
		prev = parseIntervals(*j.Status.FailedIndexes, completions)
	}
	add := sets.New[int]()
	for _, p := range pods {
		if validIndex(j, p) && hasTrackingFinalizer(p) && indexFailed(j, p) {
			add.Insert(completionIndex(p))
		}
	}
	return prev.withIndexes(sets.List(add))
}

// indexFailed reports a failed pod that fails its index.
func indexFailed(j *batchv1.Job, p *corev1.Pod) bool {
	if !isPodFailed(p, j) {
		return false
	}
	_, count, action := matchFailurePolicy(j.Spec.PodFailurePolicy, p)
	if action != nil && *action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	return count && annotationCount(p, batchv1.JobIndexFailureCountAnnotation) >= *j.Spec.BackoffLimitPerIndex
}

// annotationCount reads a failure count annotation (0 if missing or bad).
func annotationCount(p *corev1.Pod, key string) int32 {
	v, err := strconv.Atoi(p.Annotations[key])
	if err != nil || v < 0 || v > math.MaxInt32 {
		return 0
	}
	return int32(v)
}

func absoluteFailureCount(p *corev1.Pod) int32 {
	return annotationCount(p, batchv1.JobIndexFailureCountAnnotation) + annotationCount(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// delayedDeletionPods returns, per index still to run, the latest failed
// pod, whose finalizer stays until its replacement carries the count on.
func delayedDeletionPods(st *syncState) map[int]*corev1.Pod {
	active := podIndexes(st.active)
	out := map[int]*corev1.Pod{}
	for _, p := range st.pods {
		if !hasTrackingFinalizer(p) || st.expectedRmFinalizers.Has(string(p.UID)) || !validIndex(st.job, p) || !isPodFailed(p, st.job) {
			continue
		}
		ix := completionIndex(p)
		if st.succeededIndexes.has(ix) || st.failedIndexes.has(ix) || active.Has(ix) {
			continue
		}
		if last, ok := out[ix]; !ok || (absoluteFailureCount(last) <= absoluteFailureCount(p) && !finishTime(p).Before(finishTime(last))) {
			out[ix] = p
		}
	}
	return out
}

// indexesReady splits the indexes to create into those whose back-off has
// passed; if none has, it returns the shortest wait.
func (c *Controller) indexesReady(st *syncState, indexes []int) ([]int, time.Duration) {
	var ready []int
	var wait time.Duration
	now := c.now()
	for _, ix := range indexes {
		left := time.Duration(0)
		if p := st.delayed[ix]; p != nil {
			last := finishTime(p)
			r := backoffRecord{failuresAfterLastSuccess: absoluteFailureCount(p) + 1, lastFailureTime: &last}
			left = r.remaining(now, c.cfg.PodFailureBackoff, c.cfg.MaxPodFailureBackoff)
		}
		if left == 0 {
			ready = append(ready, ix)
		} else if wait == 0 || left < wait {
			wait = left
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, wait
}

// setFailureCounts annotates a new pod with its index's failure counts,
// those of the pod it replaces plus that pod's failure.
func setFailureCounts(t *corev1.PodTemplateSpec, j *batchv1.Job, replaced *corev1.Pod) {
	var failures, ignored int32
	if replaced != nil {
		failures = annotationCount(replaced, batchv1.JobIndexFailureCountAnnotation)
		ignored = annotationCount(replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
		if _, count, _ := matchFailurePolicy(j.Spec.PodFailurePolicy, replaced); count {
			failures++
		} else {
			ignored++
		}
	}
	t.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
	if ignored > 0 {
		t.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}
