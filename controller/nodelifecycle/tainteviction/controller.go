package tainteviction

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

// Name is the controller's name, and the source of its events, as
// kube-controller-manager's.
const Name = "taint-eviction-controller"

// deleteAttempts bounds the tries of one deletion before the key is
// retried with back-off.
const deleteAttempts = 5

// Controller is the taint eviction controller.
type Controller struct {
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	now      func() time.Time
	workers  int

	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	podsByNode func(node string) ([]*corev1.Pod, error)
	synced     []cache.InformerSynced
	worker     *controller.Worker

	mu        sync.Mutex
	scheduled map[string]*eviction // by pod key
}

// eviction is a pod deletion the controller scheduled.
type eviction struct {
	start time.Time // when the pod's toleration time began counting
	at    time.Time
	fired bool // the pod was deleted
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller; it registers its informers' handlers.
func New(s *controller.Shared) (controller.Controller, error) {
	return newController(s)
}

func newController(s *controller.Shared) (*Controller, error) {
	opts := s.Options
	opts.Defaults()
	now := s.Now
	if now == nil {
		now = time.Now
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", Name)
	c := &Controller{
		client:    s.Client,
		logger:    logger,
		recorder:  s.Recorder(Name),
		now:       now,
		workers:   opts.Workers,
		scheduled: map[string]*eviction{},
	}
	c.worker = controller.NewWorker(Name, logger, c.sync)
	pods := s.Informers.Core().V1().Pods()
	nodes := s.Informers.Core().V1().Nodes()
	podsByNode, err := controller.PodsByNode(pods.Informer())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	c.podsByNode = podsByNode
	c.pods, c.nodes = pods.Lister(), nodes.Lister()
	c.synced = []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced}

	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.worker.AddObject,
		UpdateFunc: func(old, obj interface{}) {
			prev, ok1 := old.(*corev1.Pod)
			pod, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && prev.Spec.NodeName == pod.Spec.NodeName &&
				apiequality.Semantic.DeepEqual(prev.Spec.Tolerations, pod.Spec.Tolerations) {
				return
			}
			c.worker.AddObject(obj)
		},
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.nodeChanged(obj) },
		UpdateFunc: func(old, obj interface{}) {
			prev, ok1 := old.(*corev1.Node)
			node, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && apiequality.Semantic.DeepEqual(noExecuteTaints(prev.Spec.Taints), noExecuteTaints(node.Spec.Taints)) {
				return
			}
			c.nodeChanged(obj)
		},
		DeleteFunc: c.nodeChanged,
	}); err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	return c, nil
}

// nodeChanged queues the pods of a node whose NoExecute taints changed.
func (c *Controller) nodeChanged(obj interface{}) {
	name, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	pods, err := c.podsByNode(name)
	if err != nil {
		c.logger.Error("list pods of node", "node", name, "err", err)
		return
	}
	for _, p := range pods {
		c.worker.AddObject(p)
	}
}

// Run deletes pods until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.logger.Info("starting controller")
	defer c.logger.Info("stopping controller")
	c.worker.Run(ctx, c.workers)
	return nil
}

// sync decides a pod's fate from its tolerations and its node's
// NoExecute taints: nothing, deletion now, or deletion later (the key is
// queued again for then).
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		c.cancel(key)
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		c.cancel(key)
		return nil
	}
	if pod.DeletionTimestamp != nil {
		return nil // going already
	}
	now := c.now()
	since := now
	c.mu.Lock()
	if e := c.scheduled[key]; e != nil && !e.fired {
		since = e.start
	}
	c.mu.Unlock()
	d := decide(taints, pod.Spec.Tolerations, since, now)
	if !d.evict {
		c.cancel(key)
		return nil
	}
	if d.at.After(now) {
		c.mu.Lock()
		c.scheduled[key] = &eviction{start: d.start, at: d.at}
		c.mu.Unlock()
		c.worker.AddAfter(key, d.at.Sub(now))
		return nil
	}
	return c.evict(ctx, pod)
}

// cancel forgets a scheduled deletion, with an event if it had not
// happened.
func (c *Controller) cancel(key string) {
	c.mu.Lock()
	e := c.scheduled[key]
	delete(c.scheduled, key)
	c.mu.Unlock()
	if e == nil || e.fired {
		return
	}
	namespace, name, _ := cache.SplitMetaNamespaceKey(key)
	c.recorder.Eventf(podRef(namespace, name), corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
}

func podRef(namespace, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: namespace, Name: name}
}

// evict deletes a pod, after giving it the DisruptionTarget condition.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	c.logger.Info("deleting pod", "pod", key, "node", pod.Spec.NodeName)
	c.recorder.Eventf(podRef(pod.Namespace, pod.Name), corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	var err error
	for attempt := 0; attempt < deleteAttempts; attempt++ {
		if err = c.deletePod(ctx, pod.Namespace, pod.Name, pod.UID); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("delete pod %s: %w", key, err)
	}
	c.mu.Lock()
	c.scheduled[key] = &eviction{fired: true}
	c.mu.Unlock()
	return nil
}

func (c *Controller) deletePod(ctx context.Context, namespace, name string, uid types.UID) error {
	pods := c.client.CoreV1().Pods(namespace)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.UID != uid {
		return nil // another pod of the same name
	}
	if setDisruptionTarget(&pod.Status, c.now()) {
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	err = pods.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) { // gone, or replaced
		return nil
	}
	return err
}

// setDisruptionTarget gives a pod the condition saying why it is deleted;
// false when it has it already.
func setDisruptionTarget(status *corev1.PodStatus, now time.Time) bool {
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint",
		LastTransitionTime: metav1.NewTime(now),
	}
	for i := range status.Conditions {
		cond := &status.Conditions[i]
		if cond.Type != want.Type {
			continue
		}
		if cond.Status == want.Status {
			want.LastTransitionTime = cond.LastTransitionTime
		}
		if cond.Status == want.Status && cond.Reason == want.Reason && cond.Message == want.Message {
			return false
		}
		*cond = want
		return true
	}
	status.Conditions = append(status.Conditions, want)
	return true
}
