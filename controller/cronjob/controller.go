package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/internal/informer"
)

// Component is the controller's name in events.
const Component = "cronjob-controller"

// Controller runs CronJobs.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	logger   *slog.Logger
	now      func() time.Time
	workers  int
	queue    *controller.Worker
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
	cronJobInformer := s.Informers.Batch().V1().CronJobs()
	jobInformer := s.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:   s.Client,
		cronJobs: cronJobInformer.Lister(),
		jobs:     jobInformer.Lister(),
		synced:   []cache.InformerSynced{cronJobInformer.Informer().HasSynced, jobInformer.Informer().HasSynced},
		recorder: s.Recorder(Component),
		logger:   logger.With("controller", "cronjob"),
		now:      now,
		workers:  workers,
	}
	c.queue = controller.NewWorker("cronjob", logger, c.sync)
	if _, err := cronJobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObject,
		UpdateFunc: c.updateCronJob,
		DeleteFunc: c.queue.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("cronjob controller: cronjob event handler: %w", err)
	}
	if _, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addJob,
		UpdateFunc: func(old, cur interface{}) {
			oldJob, curJob := old.(*batchv1.Job), cur.(*batchv1.Job)
			if oldJob.ResourceVersion == curJob.ResourceVersion {
				return
			}
			if oldRef, curRef := metav1.GetControllerOf(oldJob), metav1.GetControllerOf(curJob); oldRef != nil &&
				(curRef == nil || oldRef.UID != curRef.UID) {
				c.enqueueOwner(oldJob.Namespace, oldRef)
			}
			c.enqueueOwnerOf(curJob)
		},
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("cronjob controller: job event handler: %w", err)
	}
	return c, nil
}

// Run syncs CronJobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopping")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("cronjob controller: caches not synced: %w", ctx.Err())
	}
	c.queue.Run(ctx, c.workers)
	return nil
}

// updateCronJob requeues a CronJob: for its next time if the schedule
// changed, at once otherwise.
func (c *Controller) updateCronJob(old, cur interface{}) {
	oldCJ, ok1 := old.(*batchv1.CronJob)
	newCJ, ok2 := cur.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return
	}
	if oldCJ.Spec.Schedule != newCJ.Spec.Schedule || !ptr.Equal(oldCJ.Spec.TimeZone, newCJ.Spec.TimeZone) {
		sched, err := Parse(formatSchedule(newCJ, nil))
		if err != nil {
			c.logger.Info("unparseable schedule", "cronjob", key(newCJ), "schedule", newCJ.Spec.Schedule, "err", err)
			c.recorder.Eventf(newCJ, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "unparseable schedule for cronjob: %s", newCJ.Spec.Schedule)
			return
		}
		c.queue.AddAfter(key(newCJ), nextScheduleDelay(newCJ, c.now(), sched))
		return
	}
	c.queue.Add(key(newCJ))
}

func key(cj *batchv1.CronJob) string { return cj.Namespace + "/" + cj.Name }

func (c *Controller) addJob(obj interface{}) {
	j := obj.(*batchv1.Job)
	if j.DeletionTimestamp != nil {
		c.deleteJob(j)
		return
	}
	c.enqueueOwnerOf(j)
}

func (c *Controller) deleteJob(obj interface{}) {
	j, ok := informer.Object[*batchv1.Job](obj)
	if !ok {
		return
	}
	c.enqueueOwnerOf(j)
}

func (c *Controller) enqueueOwnerOf(j *batchv1.Job) {
	if ref := metav1.GetControllerOf(j); ref != nil {
		c.enqueueOwner(j.Namespace, ref)
	}
}

// enqueueOwner queues the CronJob a controller reference names, if it is
// still the same object.
func (c *Controller) enqueueOwner(ns string, ref *metav1.OwnerReference) {
	if ref.Kind != "CronJob" {
		return
	}
	cj, err := c.cronJobs.CronJobs(ns).Get(ref.Name)
	if err != nil || cj.UID != ref.UID {
		return
	}
	c.queue.Add(key(cj))
}
