package job

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Condition reasons and messages, as Kubernetes writes them.
const (
	msgBackoffLimit     = "Job has reached the specified backoff limit"
	msgDeadline         = "Job was active longer than specified deadline"
	msgCompletions      = "Reached expected number of succeeded pods"
	msgMaxFailedIndexes = "Job has exceeded the specified maximal number of failed indexes"
	msgFailedIndexes    = "Job has failed indexes"
	reasonSuspended     = "JobSuspended"
	reasonResumed       = "JobResumed"
	msgSuspended        = "Job suspended"
	msgResumed          = "Job resumed"
	eventTooManyPods    = "TooManySucceededPods"
	msgTooManyPods      = "Too many succeeded pods running after completion count reached"
	eventUnknownMode    = "UnknownCompletionMode"
	msgUnknownMode      = "Skipped Job sync because completion mode is unknown"
	eventJobCompleted   = "Completed"
	msgJobCompleted     = "Job completed"
)

// syncState is what one sync of a Job works from and on.
type syncState struct {
	job         *batchv1.Job
	pods        []*corev1.Pod
	active      []*corev1.Pod
	ready       int32
	terminating int32
	// succeeded and failed are the counts including pods not yet in the
	// status.
	succeeded, failed int32
	// prevSucceededIndexes are .status.completedIndexes; succeededIndexes
	// add the indexes of succeeded pods not yet counted.
	prevSucceededIndexes, succeededIndexes intervals
	uncountedSucceeded, uncountedFailed    sets.Set[string]
	// expectedRmFinalizers are pods already counted whose finalizer
	// removal the informer has not shown yet.
	expectedRmFinalizers sets.Set[string]
	// failedIndexes (with backoffLimitPerIndex) are the indexes failed for
	// good; delayed holds per index the failed pod awaiting replacement.
	failedIndexes intervals
	delayed       map[int]*corev1.Pod
	// finished is the condition the Job is reaching, if any.
	finished *batchv1.JobCondition
	backoff  backoffRecord
}

func newCondition(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

func conditionTrue(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	if c := findCondition(j.Status.Conditions, t); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

// ensureCondition sets a condition, appending it if missing (unless it is
// False), and reports whether the list changed.
func ensureCondition(list []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) ([]batchv1.JobCondition, bool) {
	if c := findCondition(list, t); c != nil {
		if c.Status != status || c.Reason != reason || c.Message != message {
			*c = *newCondition(t, status, reason, message, now)
			return list, true
		}
		return list, false
	}
	if status == corev1.ConditionFalse {
		return list, false
	}
	return append(list, *newCondition(t, status, reason, message, now)), true
}

func suspended(j *batchv1.Job) bool { return ptr.Deref(j.Spec.Suspend, false) }

// syncJob brings a Job's pods and status towards its spec.
func (c *Controller) syncJob(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		c.finalizers.forget(key)
		c.backoff.remove(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if managedElsewhere(shared) {
		return nil
	}
	if isFinished(shared) {
		c.backoff.remove(key)
		return nil
	}
	job := shared.DeepCopy()
	if m := job.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.recorder.Event(job, corev1.EventTypeWarning, eventUnknownMode, msgUnknownMode)
		return nil
	}
	if job.Spec.BackoffLimit == nil || job.Spec.Parallelism == nil || (isIndexed(job) && job.Spec.Completions == nil) {
		return nil // not defaulted: not a valid stored Job
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Check expectations before listing pods: a pod created after the
	// check then only delays the sync.
	satisfied := c.expectations.satisfied(key)
	pods, err := c.claimPods(ctx, job)
	if err != nil {
		return err
	}
	now := c.now()
	st := &syncState{
		job:                  job,
		pods:                 pods,
		active:               activePods(pods),
		terminating:          int32(len(terminatingPods(pods))),
		uncountedSucceeded:   uidSet(job.Status.UncountedTerminatedPods.Succeeded),
		uncountedFailed:      uidSet(job.Status.UncountedTerminatedPods.Failed),
		expectedRmFinalizers: c.finalizers.expected(key),
	}
	st.ready = countReady(st.active)
	active := int32(len(st.active))
	newSucceeded, newFailed := st.newFinishedPods()
	st.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(st.uncountedSucceeded.Len())
	st.failed = job.Status.Failed + int32(countedFailures(job, newFailed)) + int32(st.uncountedFailed.Len())

	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = ptr.To(metav1.NewTime(now))
	}
	st.backoff = c.backoff.next(key, newSucceeded, newFailed)

	st.finished = conditionTrue(job, batchv1.JobSuccessCriteriaMet)
	if st.finished == nil {
		if ft := conditionTrue(job, batchv1.JobFailureTarget); ft != nil {
			st.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
		} else if msg := failJobMessage(job, pods); msg != nil {
			st.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg, now)
		}
	}
	if st.finished == nil {
		switch {
		case st.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			st.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit, now)
		case c.pastActiveDeadline(job, now):
			st.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadline, now)
		case job.Spec.ActiveDeadlineSeconds != nil && !suspended(job):
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
			c.queue.AddAfter(key, left)
		}
	}
	if isIndexed(job) {
		st.prevSucceededIndexes, st.succeededIndexes = succeededIndexes(job, pods)
		st.succeeded = int32(st.succeededIndexes.total())
		if hasBackoffLimitPerIndex(job) {
			st.failedIndexes = failedIndexes(job, pods)
			failed, completions := st.failedIndexes.total(), int(*job.Spec.Completions)
			if st.finished == nil {
				switch {
				case job.Spec.MaxFailedIndexes != nil && failed > int(*job.Spec.MaxFailedIndexes):
					st.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes, now)
				case failed > 0 && failed+st.succeededIndexes.total() >= completions:
					st.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, msgFailedIndexes, now)
				}
			}
			st.delayed = delayedDeletionPods(st)
		}
		if st.finished == nil {
			if msg, met := matchSuccessPolicy(job.Spec.SuccessPolicy, *job.Spec.Completions, st.succeededIndexes); met {
				st.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now)
			}
		}
	}

	var manageErr error
	suspendChanged := false
	if st.finished != nil {
		// The Job is finishing: stop what still runs.
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, st.active)
		if deleted != active || !satisfied {
			// Pods remain, or the cache is behind: finish later.
			st.finished = nil
		}
		active -= deleted
		st.terminating += deleted
		st.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, st)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// Any success completes a work-queue Job once nothing runs.
			complete = st.succeeded > 0 && active == 0
		} else {
			complete = st.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			st.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletions, now)
		case managed && suspended(job):
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, now)
			if changed {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", msgSuspended)
			}
		case managed:
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, now)
			if changed {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", msgResumed)
				// activeDeadlineSeconds counts from the resumption.
				job.Status.StartTime = ptr.To(metav1.NewTime(now))
			}
		}
	}

	needsUpdate := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(&st.ready, job.Status.Ready) || !ptr.Equal(&st.terminating, job.Status.Terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(st.terminating)
	if err := c.trackStatus(ctx, st, needsUpdate); err != nil {
		return fmt.Errorf("track status of job %s: %w", key, err)
	}
	return manageErr
}

func uidSet(uids []types.UID) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range uids {
		s.Insert(string(u))
	}
	return s
}

// newFinishedPods returns the succeeded and failed pods not yet counted:
// those with the finalizer, not in the uncounted lists nor already counted,
// with a valid index for Indexed Jobs.
func (st *syncState) newFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, p := range st.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || st.expectedRmFinalizers.Has(uid) {
			continue
		}
		if isIndexed(st.job) && !validIndex(st.job, p) {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded && !st.uncountedSucceeded.Has(uid) {
			succeeded = append(succeeded, p)
		} else if isPodFailed(p, st.job) && !st.uncountedFailed.Has(uid) {
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// countedFailures counts the failed pods that a pod failure policy does
// not ignore.
func countedFailures(j *batchv1.Job, failed []*corev1.Pod) int {
	n := len(failed)
	if j.Spec.PodFailurePolicy != nil {
		for _, p := range failed {
			if _, count, _ := matchFailurePolicy(j.Spec.PodFailurePolicy, p); !count {
				n--
			}
		}
	}
	return n
}

// pastBackoffLimitOnFailure checks, for restartPolicy OnFailure, whether
// the container restarts of running pods reach the backoff limit.
func pastBackoffLimitOnFailure(j *batchv1.Job, pods []*corev1.Pod) bool {
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	n := int32(0)
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			n += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			n += s.RestartCount
		}
	}
	if *j.Spec.BackoffLimit == 0 {
		return n > 0
	}
	return n >= *j.Spec.BackoffLimit
}

// pastActiveDeadline reports an unsuspended Job active for longer than its
// activeDeadlineSeconds.
func (c *Controller) pastActiveDeadline(j *batchv1.Job, now time.Time) bool {
	if j.Spec.ActiveDeadlineSeconds == nil || j.Status.StartTime == nil || suspended(j) {
		return false
	}
	return now.Sub(j.Status.StartTime.Time) >= time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second
}

// deleteActivePods deletes the pods of a finishing Job, keeping their
// finalizers (trackStatus removes them once they are counted). It returns
// how many ready pods and how many pods were deleted.
func (c *Controller) deleteActivePods(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	return c.deletePods(ctx, j, pods, func(p *corev1.Pod) error {
		if err := c.deletePodObject(ctx, j, p.Name); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	})
}

// deleteJobPods deletes surplus pods: their finalizer goes first, as a
// pod deleted this way does not count as failed.
func (c *Controller) deleteJobPods(ctx context.Context, j *batchv1.Job, key string, pods []*corev1.Pod) (int32, int32, error) {
	return c.deletePods(ctx, j, pods, func(p *corev1.Pod) error {
		fail := func(err error) error {
			c.expectations.deletionObserved(key) // no event will come
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		if hasTrackingFinalizer(p) {
			if err := c.patchPod(ctx, p.Namespace, p.Name, removeFinalizerPatch()); err != nil {
				return fail(fmt.Errorf("remove tracking finalizer: %w", err))
			}
		}
		if err := c.deletePodObject(ctx, j, p.Name); err != nil {
			return fail(err)
		}
		return nil
	})
}

// deletePods runs del on pods concurrently, counting the successes.
func (c *Controller) deletePods(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod, del func(*corev1.Pod) error) (int32, int32, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	deleted, deletedReady := int32(0), int32(0)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := del(p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
				return
			}
			deleted++
			if podReady(p) {
				deletedReady++
			}
		}()
	}
	wg.Wait()
	return deletedReady, deleted, utilerrors.NewAggregate(errs)
}
