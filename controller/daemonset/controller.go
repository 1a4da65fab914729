package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"

	"berth/controller"
	"berth/internal/informer"
)

// Name is the controller's name (its events' source component is
// "daemonset-controller").
const Name = "daemonset"

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Config holds the controller's tunables.
type Config struct {
	// BurstReplicas is the most pods one sync creates, and the most it
	// deletes. Default 250, as Kubernetes.
	BurstReplicas int
	// FailedPodBackoff is the delay before a daemon pod that failed on a
	// node is replaced again; it doubles up to FailedPodBackoffMax for each
	// failure in a row. Defaults 1s and 15m, as Kubernetes.
	FailedPodBackoff, FailedPodBackoffMax time.Duration
	// ExpectationsTimeout is how long a sync waits for the pod informer to
	// report the pods the previous sync created or deleted before acting
	// again anyway. Default 5m, as Kubernetes.
	ExpectationsTimeout time.Duration
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.BurstReplicas <= 0 {
		c.BurstReplicas = 250
	}
	if c.FailedPodBackoff <= 0 {
		c.FailedPodBackoff = time.Second
	}
	if c.FailedPodBackoffMax <= 0 {
		c.FailedPodBackoffMax = 15 * time.Minute
	}
	if c.ExpectationsTimeout <= 0 {
		c.ExpectationsTimeout = 5 * time.Minute
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.FailedPodBackoffMax < c.FailedPodBackoff {
		return errors.New("daemonset: FailedPodBackoffMax is below FailedPodBackoff")
	}
	return nil
}

// Controller is the DaemonSet controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	now      func() time.Time
	workers  int

	sets      appslisters.DaemonSetLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced

	worker       *controller.Worker
	expectations *expectations
	// failedBackoff spaces out the replacement of failed pods, per
	// DaemonSet and node.
	failedBackoff *flowcontrol.Backoff
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller with the default Config.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig builds the controller: it watches DaemonSets, their
// ControllerRevisions and pods, and nodes.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:           cfg,
		client:        s.Client,
		logger:        s.Logger.With("controller", Name),
		recorder:      s.Recorder("daemonset-controller"),
		now:           s.Now,
		workers:       s.Options.Workers,
		failedBackoff: flowcontrol.NewBackOff(cfg.FailedPodBackoff, cfg.FailedPodBackoffMax),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.workers <= 0 {
		c.workers = 1
	}
	c.expectations = newExpectations(cfg.ExpectationsTimeout, c.now)
	c.worker = controller.NewWorker(Name, c.logger, c.sync)

	dsInformer := s.Informers.Apps().V1().DaemonSets()
	revInformer := s.Informers.Apps().V1().ControllerRevisions()
	podInformer := s.Informers.Core().V1().Pods()
	nodeInformer := s.Informers.Core().V1().Nodes()
	c.sets, c.revisions = dsInformer.Lister(), revInformer.Lister()
	c.pods, c.nodes = podInformer.Lister(), nodeInformer.Lister()
	c.synced = []cache.InformerSynced{
		dsInformer.Informer().HasSynced, revInformer.Informer().HasSynced,
		podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced,
	}
	for _, h := range []struct {
		what     string
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{"daemonsets", dsInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.worker.AddObject, UpdateFunc: c.onSetUpdate, DeleteFunc: c.onSetDelete,
		}},
		{"controllerrevisions", revInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.onRevision, UpdateFunc: c.onRevisionUpdate, DeleteFunc: c.onRevision,
		}},
		{"pods", podInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.onPodAdd, UpdateFunc: c.onPodUpdate, DeleteFunc: c.onPodDelete,
		}},
		{"nodes", nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.onNodeAdd, UpdateFunc: c.onNodeUpdate, DeleteFunc: c.onNodeDelete,
		}},
	} {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			return nil, fmt.Errorf("daemonset controller: watch %s: %w", h.what, err)
		}
	}
	return c, nil
}

// Run syncs DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	go wait.Until(c.failedBackoff.GC, time.Minute, ctx.Done())
	c.worker.Run(ctx, c.workers)
	return nil
}

func dsKey(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueue(ds *appsv1.DaemonSet) { c.worker.Add(dsKey(ds)) }

func (c *Controller) onSetUpdate(old, cur interface{}) {
	oldDS, curDS := old.(*appsv1.DaemonSet), cur.(*appsv1.DaemonSet)
	if oldDS.UID != curDS.UID {
		c.expectations.forget(dsKey(oldDS))
	}
	c.enqueue(curDS)
}

func (c *Controller) onSetDelete(obj interface{}) {
	ds, ok := informer.Object[*appsv1.DaemonSet](obj)
	if !ok {
		return
	}
	c.expectations.forget(dsKey(ds))
	c.enqueue(ds)
}

// setFor returns the DaemonSet a controller reference points to, if it
// exists with that UID.
func (c *Controller) setFor(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != dsKind.Kind {
		return nil
	}
	ds, err := c.sets.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) onRevision(obj interface{}) {
	rev, ok := informer.Object[*appsv1.ControllerRevision](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(rev); ref != nil {
		if ds := c.setFor(rev.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	if sets, err := c.sets.GetHistoryDaemonSets(rev); err == nil {
		for _, ds := range sets {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) onRevisionUpdate(old, cur interface{}) {
	oldRev, curRev := old.(*appsv1.ControllerRevision), cur.(*appsv1.ControllerRevision)
	if oldRev.ResourceVersion == curRev.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOf(oldRev), metav1.GetControllerOf(curRev)
	if !reflect.DeepEqual(oldRef, curRef) && oldRef != nil {
		if ds := c.setFor(oldRev.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil || !reflect.DeepEqual(oldRev.Labels, curRev.Labels) || !reflect.DeepEqual(oldRef, curRef) {
		c.onRevision(curRev)
	}
}

func (c *Controller) onPodAdd(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.onPodDelete(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := c.setFor(pod.Namespace, ref); ds != nil {
			c.expectations.observed(dsKey(ds), 1, 0)
			c.enqueue(ds)
		}
		return
	}
	c.enqueueSelecting(pod)
}

// enqueueSelecting queues the DaemonSets whose selector matches an orphan.
func (c *Controller) enqueueSelecting(pod *corev1.Pod) {
	sets, err := c.sets.GetPodDaemonSets(pod)
	if err != nil {
		return
	}
	if len(sets) > 1 {
		c.logger.Warn("more than one daemonset selects a pod", "pod", pod.Namespace+"/"+pod.Name, "labels", pod.Labels)
	}
	for _, ds := range sets {
		c.enqueue(ds)
	}
}

func (c *Controller) onPodUpdate(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// A graceful deletion: act now rather than when the pod is gone.
		c.onPodDelete(curPod)
		return
	}
	oldRef, curRef := metav1.GetControllerOf(oldPod), metav1.GetControllerOf(curPod)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if ds := c.setFor(oldPod.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.setFor(curPod.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if !isReady(oldPod) && isReady(curPod) && ds.Spec.MinReadySeconds > 0 {
			c.worker.AddAfter(dsKey(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(oldPod.Labels, curPod.Labels) {
		c.enqueueSelecting(curPod)
	}
}

func (c *Controller) onPodDelete(obj interface{}) {
	pod, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if ds := c.setFor(pod.Namespace, metav1.GetControllerOf(pod)); ds != nil {
		c.expectations.observed(dsKey(ds), 0, 1)
		c.enqueue(ds)
	}
}

func (c *Controller) allSets() []*appsv1.DaemonSet {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		c.logger.Error("list daemonsets", "err", err)
		return nil
	}
	return sets
}

func (c *Controller) onNodeAdd(obj interface{}) {
	node := obj.(*corev1.Node)
	for _, ds := range c.allSets() {
		if run, _ := shouldRun(node, ds); run {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) onNodeUpdate(old, cur interface{}) {
	oldNode, curNode := old.(*corev1.Node), cur.(*corev1.Node)
	if ignoreNodeUpdate(*oldNode, *curNode) {
		return
	}
	for _, ds := range c.allSets() {
		oldRun, oldKeep := shouldRun(oldNode, ds)
		curRun, curKeep := shouldRun(curNode, ds)
		if oldRun != curRun || oldKeep != curKeep {
			c.enqueue(ds)
		}
	}
}

// onNodeDelete queues every DaemonSet, so that pods waiting for the node
// go at once (Kubernetes waits for another event).
func (c *Controller) onNodeDelete(interface{}) {
	for _, ds := range c.allSets() {
		c.enqueue(ds)
	}
}

// sync brings one DaemonSet ("namespace/name") to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get daemonset %s: %w", key, err)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes for daemonset %s: %w", key, err)
	}
	if ds.Spec.Selector == nil || (len(ds.Spec.Selector.MatchLabels) == 0 && len(ds.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	cur, old, err := c.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("failed to construct revisions of DaemonSet: %w", err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !c.expectations.satisfied(key) {
		// The cache lags behind the last sync's writes: only report.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.updateDaemonSet(ctx, ds, nodes, hash, key, old)
	if statusErr := c.updateStatus(ctx, ds, nodes, hash, true); statusErr != nil {
		if err != nil {
			c.logger.Error("update status", "daemonset", key, "err", statusErr)
			return err
		}
		return statusErr
	}
	return err
}

// updateDaemonSet creates and deletes pods, rolls out the template and
// trims the history.
func (c *Controller) updateDaemonSet(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash, key string, old []*appsv1.ControllerRevision) error {
	if err := c.manage(ctx, ds, nodes, hash); err != nil {
		return err
	}
	if c.expectations.satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, ds, nodes, hash); err != nil {
			return err
		}
	}
	if err := c.cleanupHistory(ctx, ds, old); err != nil {
		return fmt.Errorf("failed to clean up revisions of DaemonSet: %w", err)
	}
	return nil
}
