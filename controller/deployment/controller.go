package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/internal/informer"
)

// Name is the controller's name, as kube-controller-manager calls it.
const Name = "deployment"

// component is the source of the controller's events.
const component = "deployment-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	recorder  record.EventRecorder
	logger    *slog.Logger
	now       func() time.Time
	workers   int
	queue     *controller.Worker
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller: it asks for the Deployment, ReplicaSet and
// Pod informers and registers its event handlers. Its only tunable is
// Options.Workers (kube-controller-manager's --concurrent-deployment-syncs).
func New(s *controller.Shared) (controller.Controller, error) {
	return newController(s)
}

func newController(s *controller.Shared) (*Controller, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("controller", Name)
	now := s.Now
	if now == nil {
		now = time.Now
	}
	workers := s.Options.Workers
	if workers <= 0 {
		workers = 5
	}
	c := &Controller{client: s.Client, logger: logger, now: now, workers: workers}
	if s.Recorder != nil {
		c.recorder = s.Recorder(component)
	} else {
		c.recorder = &record.FakeRecorder{}
	}
	c.queue = controller.NewWorker(Name, logger, c.sync)

	dInformer := s.Informers.Apps().V1().Deployments()
	rsInformer := s.Informers.Apps().V1().ReplicaSets()
	podInformer := s.Informers.Core().V1().Pods()
	if _, err := dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.AddObject,
		UpdateFunc: func(_, cur interface{}) { c.queue.AddObject(cur) },
		DeleteFunc: c.queue.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("deployment: watch deployments: %w", err)
	}
	if _, err := rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	}); err != nil {
		return nil, fmt.Errorf("deployment: watch replica sets: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("deployment: watch pods: %w", err)
	}
	c.dLister = dInformer.Lister()
	c.rsLister = rsInformer.Lister()
	c.podLister = podInformer.Lister()
	c.synced = []cache.InformerSynced{dInformer.Informer().HasSynced, rsInformer.Informer().HasSynced, podInformer.Informer().HasSynced}
	return c, nil
}

// Run syncs Deployments until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting controller", "workers", c.workers)
	defer c.logger.Info("stopping controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("deployment: informer caches did not sync")
	}
	c.queue.Run(ctx, c.workers)
	return nil
}

func key(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (c *Controller) enqueue(d *appsv1.Deployment) { c.queue.Add(key(d)) }

// resolveControllerRef returns the Deployment a controller reference
// points to, or nil.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsSelecting lists the Deployments whose selector matches an
// orphan ReplicaSet's labels.
func (c *Controller) deploymentsSelecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	if len(out) > 1 {
		c.logger.Warn("more than one deployment selects a replica set", "replicaSet", key(rs), "labels", rs.Labels)
	}
	return out
}

func (c *Controller) addReplicaSet(obj interface{}) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsSelecting(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, curObj interface{}) {
	oldRS, ok1 := oldObj.(*appsv1.ReplicaSet)
	curRS, ok2 := curObj.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 || curRS.ResourceVersion == oldRS.ResourceVersion {
		return
	}
	curRef := metav1.GetControllerOf(curRS)
	oldRef := metav1.GetControllerOf(oldRS)
	refChanged := !equality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	labelChanged := !equality.Semantic.DeepEqual(curRS.Labels, oldRS.Labels)
	if labelChanged || refChanged {
		for _, d := range c.deploymentsSelecting(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	rs, ok := informer.Object[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(rs)
	if ref == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
		c.enqueue(d)
	}
}

// deletePod wakes a Recreate Deployment when its last old pod is gone.
func (c *Controller) deletePod(obj interface{}) {
	pod, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	d := c.deploymentForPod(pod)
	if d == nil || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return
	}
	rss, err := c.ownedReplicaSets(d)
	if err != nil {
		return
	}
	podMap, err := c.podMap(d, rss)
	if err != nil {
		return
	}
	for _, pods := range podMap {
		if len(pods) > 0 {
			return
		}
	}
	c.enqueue(d)
}

// deploymentForPod follows a pod's controller to its ReplicaSet and that
// one's controller to a Deployment.
func (c *Controller) deploymentForPod(pod *corev1.Pod) *appsv1.Deployment {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	rsRef := metav1.GetControllerOf(rs)
	if rsRef == nil {
		return nil
	}
	return c.resolveControllerRef(rs.Namespace, rsRef)
}

// ownedReplicaSets lists, from the cache, the ReplicaSets d controls.
func (c *Controller) ownedReplicaSets(d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		if ref := metav1.GetControllerOfNoCopy(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}
