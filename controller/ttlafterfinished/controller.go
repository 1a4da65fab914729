package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"berth/controller"
)

// Controller deletes finished Jobs whose TTL has expired.
type Controller struct {
	client  kubernetes.Interface
	jobs    batchlisters.JobLister
	synced  cache.InformerSynced
	logger  *slog.Logger
	now     func() time.Time
	workers int
	queue   *controller.Worker
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller. Its clock is s.Now.
func New(s *controller.Shared) (controller.Controller, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	workers := s.Options.Workers
	if workers < 1 {
		workers = 5
	}
	informer := s.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:  s.Client,
		jobs:    informer.Lister(),
		synced:  informer.Informer().HasSynced,
		logger:  logger.With("controller", "ttl-after-finished"),
		now:     now,
		workers: workers,
	}
	c.queue = controller.NewWorker("ttl-after-finished", logger, c.sync)
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("ttl-after-finished controller: job event handler: %w", err)
	}
	return c, nil
}

// Run deletes expired Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopping")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("ttl-after-finished controller: caches not synced: %w", ctx.Err())
	}
	c.queue.Run(ctx, c.workers)
	return nil
}

func (c *Controller) enqueue(obj interface{}) {
	if j, ok := obj.(*batchv1.Job); ok && j.DeletionTimestamp == nil && needsCleanup(j) {
		c.queue.AddObject(j)
	}
}

// needsCleanup reports a finished Job with a TTL.
func needsCleanup(j *batchv1.Job) bool {
	_, finished := finishTime(j)
	return j.Spec.TTLSecondsAfterFinished != nil && finished
}

// finishTime returns when a Job got its Complete or Failed condition.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// sync deletes a Job if its TTL has expired, else requeues it for then.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if expired, err := c.expired(key, j); err != nil || !expired {
		return err
	}
	// The cached Job may be stale (its TTL changed, say): check the stored
	// one before deleting it.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if expired, err := c.expired(key, fresh); err != nil || !expired {
		return err
	}
	c.logger.Info("deleting expired job", "job", key)
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	return nil
}

// expired reports whether a Job's TTL has run out; if it is yet to, the Job
// is requeued for then.
func (c *Controller) expired(key string, j *batchv1.Job) (bool, error) {
	if j.DeletionTimestamp != nil || !needsCleanup(j) {
		return false, nil
	}
	finished, _ := finishTime(j)
	if finished.IsZero() {
		return false, fmt.Errorf("unable to find the time when the Job %s finished", key)
	}
	now := c.now()
	if finished.After(now) {
		c.logger.Info("job finished in the future, probably clock skew: cleanup deferred", "job", key, "finished", finished)
	}
	left := finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now)
	if left > 0 {
		c.queue.AddAfter(key, left)
		return false, nil
	}
	return true, nil
}
