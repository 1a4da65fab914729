package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/internal/informer"
)

// Name is the controller's name, as kube-controller-manager calls it.
const Name = "replicaset"

// component is the source of the controller's events.
const component = "replicaset-controller"

// controllerKind is the kind of the owner references the controller writes.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Config tunes the controller beyond controller.Options.
type Config struct {
	// BurstReplicas is the most pods one sync of a ReplicaSet creates or
	// deletes; the rest wait for the next sync. Default 500, as
	// kube-controller-manager.
	BurstReplicas int
	// ExpectationsTimeout is how long a ReplicaSet waits to observe the pods
	// it created or deleted before it syncs anyway. Default 5m, as
	// Kubernetes.
	ExpectationsTimeout time.Duration
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.BurstReplicas == 0 {
		c.BurstReplicas = 500
	}
	if c.ExpectationsTimeout == 0 {
		c.ExpectationsTimeout = 5 * time.Minute
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.BurstReplicas < 0 {
		return fmt.Errorf("replicaset: BurstReplicas %d is negative", c.BurstReplicas)
	}
	if c.ExpectationsTimeout < 0 {
		return fmt.Errorf("replicaset: ExpectationsTimeout %s is negative", c.ExpectationsTimeout)
	}
	return nil
}

// Controller is the ReplicaSet controller.
type Controller struct {
	cfg       Config
	kind      schema.GroupVersionKind
	client    kubernetes.Interface
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	recorder  record.EventRecorder
	logger    *slog.Logger
	now       func() time.Time
	workers   int
	exp       *expectations
	queue     *controller.Worker
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller with the default Config.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig builds the controller: it asks for the ReplicaSet and Pod
// informers and registers its event handlers.
func NewWithConfig(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
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
	c := &Controller{
		cfg:     cfg,
		kind:    controllerKind,
		client:  s.Client,
		logger:  logger,
		now:     now,
		workers: workers,
		exp:     newExpectations(cfg.ExpectationsTimeout, now),
	}
	if s.Recorder != nil {
		c.recorder = s.Recorder(component)
	} else {
		c.recorder = &record.FakeRecorder{}
	}
	c.queue = controller.NewWorker(Name, logger, c.sync)

	rsInformer := s.Informers.Apps().V1().ReplicaSets()
	podInformer := s.Informers.Core().V1().Pods()
	if _, err := rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addRS,
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	}); err != nil {
		return nil, fmt.Errorf("replicaset: watch replica sets: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("replicaset: watch pods: %w", err)
	}
	c.rsLister = rsInformer.Lister()
	c.podLister = podInformer.Lister()
	c.synced = []cache.InformerSynced{rsInformer.Informer().HasSynced, podInformer.Informer().HasSynced}
	return c, nil
}

// Run syncs ReplicaSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting controller", "workers", c.workers)
	defer c.logger.Info("stopping controller")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("replicaset: informer caches did not sync")
	}
	c.queue.Run(ctx, c.workers)
	return nil
}

func (c *Controller) enqueue(rs *appsv1.ReplicaSet) { c.queue.Add(key(rs)) }

func key(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (c *Controller) addRS(obj interface{}) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	c.enqueue(rs)
}

func (c *Controller) updateRS(oldObj, curObj interface{}) {
	oldRS, ok1 := oldObj.(*appsv1.ReplicaSet)
	curRS, ok2 := curObj.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 {
		return
	}
	// A ReplicaSet deleted and recreated under the same name between two
	// events: forget the old one's expectations.
	if curRS.UID != oldRS.UID {
		c.deleteRS(oldRS)
	}
	// Every update syncs: a failed creation waits for any change to retry.
	c.enqueue(curRS)
}

func (c *Controller) deleteRS(obj interface{}) {
	rs, ok := informer.Object[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	k := key(rs)
	c.exp.delete(k)
	c.queue.Add(k)
}

// resolveControllerRef returns the ReplicaSet a controller reference points
// to, or nil if it is not one of ours.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != c.kind.Kind {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// podReplicaSets lists the ReplicaSets whose selector matches a pod.
func (c *Controller) podReplicaSets(pod *corev1.Pod) []*appsv1.ReplicaSet {
	rss, err := c.rsLister.GetPodReplicaSets(pod)
	if err != nil {
		return nil
	}
	if len(rss) > 1 {
		c.logger.Warn("more than one replica set selects a pod", "pod", key(pod), "labels", pod.Labels)
	}
	return rss
}

func (c *Controller) addPod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (a restart of the
		// controller): not a creation.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		rs := c.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		k := key(rs)
		c.exp.creationObserved(k)
		c.queue.Add(k)
		return
	}
	// An orphan: wake every ReplicaSet that may adopt it.
	for _, rs := range c.podReplicaSets(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	curPod, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 || curPod.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	labelChanged := !reflect.DeepEqual(curPod.Labels, oldPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// A graceful deletion starts: replace the pod now rather than when
		// the kubelet finishes.
		c.deletePod(curPod)
		if labelChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef := metav1.GetControllerOf(curPod)
	oldRef := metav1.GetControllerOf(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// A pod that just became ready becomes available minReadySeconds
		// later, with no event to say so.
		if !podReady(oldPod) && podReady(curPod) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(key(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelChanged || refChanged {
		for _, rs := range c.podReplicaSets(curPod) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
	pod, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	k := key(rs)
	c.exp.deletionObserved(k, key(pod))
	c.queue.Add(k)
}
