package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/internal/informer"
)

// Component is the controller's name in events.
const Component = "job-controller"

// managerName is the value of spec.managedBy that means this controller;
// Jobs managed by any other are left alone.
const managerName = "kubernetes.io/job-controller"

// Config tunes the controller. Zero fields take the defaults.
type Config struct {
	// PodFailureBackoff is how long the controller waits before re-creating
	// a pod after one failure; the delay doubles with each consecutive
	// failure (a success resets it). Default 10s.
	PodFailureBackoff time.Duration
	// MaxPodFailureBackoff caps that delay. Default 10m, as Kubernetes' code
	// (its documentation says six minutes).
	MaxPodFailureBackoff time.Duration
	// SyncBatchPeriod gathers the pod events of a Job into one sync.
	// Default 1s.
	SyncBatchPeriod time.Duration
	// MaxUncountedPods bounds .status.uncountedTerminatedPods, and so the
	// finished pods handled in one sync. Default 500.
	MaxUncountedPods int
	// MaxPodCreateDeletePerSync bounds the pods created or deleted in one
	// sync. Default 500.
	MaxPodCreateDeletePerSync int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.PodFailureBackoff == 0 {
		c.PodFailureBackoff = 10 * time.Second
	}
	if c.MaxPodFailureBackoff == 0 {
		c.MaxPodFailureBackoff = 10 * time.Minute
	}
	if c.SyncBatchPeriod == 0 {
		c.SyncBatchPeriod = time.Second
	}
	if c.MaxUncountedPods == 0 {
		c.MaxUncountedPods = 500
	}
	if c.MaxPodCreateDeletePerSync == 0 {
		c.MaxPodCreateDeletePerSync = 500
	}
}

// Validate checks a defaulted configuration.
func (c Config) Validate() error {
	switch {
	case c.PodFailureBackoff < 0 || c.MaxPodFailureBackoff < c.PodFailureBackoff:
		return fmt.Errorf("job controller: pod failure back-off %s must be positive and at most the maximum %s", c.PodFailureBackoff, c.MaxPodFailureBackoff)
	case c.SyncBatchPeriod < 0:
		return fmt.Errorf("job controller: negative sync batch period %s", c.SyncBatchPeriod)
	case c.MaxUncountedPods < 1 || c.MaxPodCreateDeletePerSync < 1:
		return errors.New("job controller: per-sync pod limits must be positive")
	}
	return nil
}

// Controller runs Jobs.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	logger   *slog.Logger
	now      func() time.Time
	workers  int

	queue   *controller.Worker // Job keys
	orphans *controller.Worker // keys of pods whose finalizer no Job will remove

	expectations *expectations
	finalizers   *finalizerExpectations
	backoff      *backoffStore
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller with the default Config.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig builds the controller with cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
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
	jobInformer := s.Informers.Batch().V1().Jobs()
	podInformer := s.Informers.Core().V1().Pods()
	c := &Controller{
		cfg:          cfg,
		client:       s.Client,
		jobs:         jobInformer.Lister(),
		pods:         podInformer.Lister(),
		synced:       []cache.InformerSynced{jobInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		recorder:     s.Recorder(Component),
		logger:       logger.With("controller", "job"),
		now:          now,
		workers:      workers,
		expectations: newExpectations(now),
		finalizers:   newFinalizerExpectations(),
		backoff:      newBackoffStore(),
	}
	c.queue = controller.NewWorker("job", logger, c.syncJob)
	c.orphans = controller.NewWorker("job-orphan-pod", logger, c.syncOrphanPod)
	if _, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("job controller: job event handler: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj interface{}) { c.deletePod(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("job controller: pod event handler: %w", err)
	}
	return c, nil
}

// Run syncs Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopping")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("job controller: caches not synced: %w", ctx.Err())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.orphans.Run(ctx, 1)
	}()
	c.queue.Run(ctx, c.workers)
	<-done
	return nil
}

// managedElsewhere reports a Job whose spec.managedBy names another
// controller.
func managedElsewhere(j *batchv1.Job) bool {
	return j.Spec.ManagedBy != nil && *j.Spec.ManagedBy != managerName
}

func jobKey(j *batchv1.Job) string { return j.Namespace + "/" + j.Name }

// enqueue queues a Job's sync after delay.
func (c *Controller) enqueue(j *batchv1.Job, delay time.Duration) {
	if delay <= 0 {
		c.queue.Add(jobKey(j))
		return
	}
	c.queue.AddAfter(jobKey(j), delay)
}

// enqueueBatched queues a sync after the batch period, so that a burst of
// pod events makes one sync.
func (c *Controller) enqueueBatched(j *batchv1.Job) { c.enqueue(j, c.cfg.SyncBatchPeriod) }

func (c *Controller) addJob(obj interface{}) {
	if j, ok := obj.(*batchv1.Job); ok {
		c.enqueue(j, 0)
	}
}

func (c *Controller) updateJob(old, cur interface{}) {
	oldJob, curJob := old.(*batchv1.Job), cur.(*batchv1.Job)
	if curJob.Generation == oldJob.Generation {
		c.enqueueBatched(curJob)
	} else {
		c.enqueue(curJob, 0) // a spec change syncs at once
	}
	if isFinished(curJob) {
		c.cleanupPodFinalizers(curJob)
	}
	// A new activeDeadlineSeconds needs a sync when it passes.
	if curJob.Status.StartTime != nil && curJob.Spec.ActiveDeadlineSeconds != nil {
		if oldJob.Spec.ActiveDeadlineSeconds == nil || *oldJob.Spec.ActiveDeadlineSeconds != *curJob.Spec.ActiveDeadlineSeconds {
			total := time.Duration(*curJob.Spec.ActiveDeadlineSeconds) * time.Second
			c.enqueue(curJob, total-c.now().Sub(curJob.Status.StartTime.Time))
		}
	}
}

func (c *Controller) deleteJob(obj interface{}) {
	j, ok := informer.Object[*batchv1.Job](obj)
	if !ok {
		return
	}
	c.enqueue(j, 0)
	c.cleanupPodFinalizers(j)
}

// cleanupPodFinalizers hands the pods of a finished or deleted Job that
// still carry the tracking finalizer to the orphan queue.
func (c *Controller) cleanupPodFinalizers(j *batchv1.Job) {
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return
	}
	pods, _ := c.pods.Pods(j.Namespace).List(sel)
	for _, p := range pods {
		if metav1.IsControlledBy(p, j) && hasTrackingFinalizer(p) {
			c.orphans.AddObject(p)
		}
	}
}

// resolveControllerRef returns the Job a controller reference names, if it
// is still the same object.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref.Kind != "Job" {
		return nil
	}
	j, err := c.jobs.Jobs(ns).Get(ref.Name)
	if err != nil || j.UID != ref.UID {
		return nil
	}
	return j
}

// podJobs returns the Jobs whose selector matches an orphan pod.
func (c *Controller) podJobs(p *corev1.Pod) []*batchv1.Job {
	if len(p.Labels) == 0 {
		return nil
	}
	jobs, err := c.jobs.Jobs(p.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*batchv1.Job
	for _, j := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, j)
		}
	}
	return out
}

func (c *Controller) addPod(obj interface{}) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// A pod seen first while terminating is no creation.
		c.deletePod(p, false)
		return
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		j := c.resolveControllerRef(p.Namespace, ref)
		if j == nil {
			return
		}
		c.expectations.creationObserved(jobKey(j))
		c.enqueueBatched(j)
		return
	}
	if hasTrackingFinalizer(p) {
		c.orphans.AddObject(p)
	}
	for _, j := range c.podJobs(p) {
		c.enqueueBatched(j)
	}
}

func (c *Controller) updatePod(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if curPod.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// Replacements may start as soon as a pod is terminating.
		c.deletePod(curPod, false)
		return
	}
	finalizerRemoved := !hasTrackingFinalizer(curPod)
	curRef, oldRef := metav1.GetControllerOf(curPod), metav1.GetControllerOf(oldPod)
	refChanged := !sameRef(curRef, oldRef)
	if refChanged && oldRef != nil {
		if j := c.resolveControllerRef(oldPod.Namespace, oldRef); j != nil {
			if finalizerRemoved {
				c.finalizers.removalObserved(jobKey(j), string(curPod.UID))
			}
			c.enqueueBatched(j)
		}
	}
	if curRef != nil {
		j := c.resolveControllerRef(curPod.Namespace, curRef)
		if j == nil {
			return
		}
		if finalizerRemoved {
			c.finalizers.removalObserved(jobKey(j), string(curPod.UID))
		}
		c.enqueueBatched(j)
		return
	}
	if hasTrackingFinalizer(curPod) {
		c.orphans.AddObject(curPod)
	}
	if refChanged || !labels.Equals(curPod.Labels, oldPod.Labels) {
		for _, j := range c.podJobs(curPod) {
			c.enqueueBatched(j)
		}
	}
}

func sameRef(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID && a.Name == b.Name && a.Kind == b.Kind && a.APIVersion == b.APIVersion
}

// deletePod handles a pod deleted (final) or marked for deletion.
func (c *Controller) deletePod(obj interface{}, final bool) {
	p, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(p)
	hasFinalizer := hasTrackingFinalizer(p)
	if ref == nil {
		if hasFinalizer {
			c.orphans.AddObject(p)
		}
		return
	}
	j := c.resolveControllerRef(p.Namespace, ref)
	if j == nil || isFinished(j) {
		// No sync of a Job will remove this finalizer.
		if hasFinalizer {
			c.orphans.AddObject(p)
		}
		return
	}
	key := jobKey(j)
	c.expectations.deletionObserved(key)
	if final || !hasFinalizer {
		c.finalizers.removalObserved(key, string(p.UID))
	}
	c.enqueueBatched(j)
}

// syncOrphanPod removes the tracking finalizer from a pod no unfinished Job
// controls.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	p, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get pod %s: %w", key, err)
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		if ref.Kind != "Job" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil // another kind of owner decides
		}
		if j := c.resolveControllerRef(p.Namespace, ref); j != nil {
			if managedElsewhere(j) || !isFinished(j) {
				return nil
			}
		}
	}
	if !hasTrackingFinalizer(p) {
		return nil
	}
	if err := c.patchPod(ctx, p.Namespace, p.Name, removeFinalizerPatch()); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove tracking finalizer of orphan pod %s: %w", key, err)
	}
	return nil
}

// isFinished reports a Complete=True or Failed=True condition.
func isFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
