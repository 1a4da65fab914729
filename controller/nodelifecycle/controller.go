package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

// Name is the controller's name, as kube-controller-manager's.
const Name = "node-lifecycle-controller"

// component is the source of the controller's events.
const component = "node-controller"

// Controller is the node lifecycle controller.
type Controller struct {
	cfg          Config
	client       kubernetes.Interface
	logger       *slog.Logger
	recorder     record.EventRecorder
	now          func() time.Time
	taints       taintPatcher
	workers      int
	grace        time.Duration
	monitorEvery time.Duration

	nodes      corelisters.NodeLister
	leases     coordlisters.LeaseLister
	pods       corelisters.PodLister
	podsByNode func(node string) ([]*corev1.Pod, error)
	synced     []cache.InformerSynced

	health *healthMap
	// retry holds nodes whose pods must still be marked not ready.
	retry sync.Map

	// Owned by the monitor loop.
	known      map[string]*corev1.Node
	zoneStates map[string]zoneState

	mu       sync.Mutex // guards tainters
	tainters map[string]*tainter

	nodeWorker *controller.Worker // NoSchedule taints and labels, by node
	podWorker  *controller.Worker // pods bound to nodes that are not ready
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller with the default Config.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns the controller; it registers its informers'
// handlers.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
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
		cfg:          cfg,
		client:       s.Client,
		logger:       logger,
		recorder:     s.Recorder(component),
		now:          now,
		taints:       taintPatcher{client: s.Client, now: now},
		workers:      opts.Workers,
		grace:        opts.NodeMonitorGracePeriod,
		monitorEvery: opts.NodeMonitorPeriod,
		health:       &healthMap{m: map[string]*nodeHealth{}},
		known:        map[string]*corev1.Node{},
		zoneStates:   map[string]zoneState{},
		tainters:     map[string]*tainter{},
	}
	c.nodeWorker = controller.NewWorker(Name+"-nodes", logger, c.syncNode)
	c.podWorker = controller.NewWorker(Name+"-pods", logger, c.syncPod)

	nodes := s.Informers.Core().V1().Nodes()
	leases := s.Informers.Coordination().V1().Leases()
	pods := s.Informers.Core().V1().Pods()
	podsByNode, err := controller.PodsByNode(pods.Informer())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	c.podsByNode = podsByNode
	c.nodes, c.leases, c.pods = nodes.Lister(), leases.Lister(), pods.Lister()
	c.synced = []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced}

	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.nodeWorker.AddObject,
		UpdateFunc: func(_, obj interface{}) { c.nodeWorker.AddObject(obj) },
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.retry.Delete(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.podUpdated(nil, obj) },
		UpdateFunc: func(old, obj interface{}) {
			c.podUpdated(old, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	return c, nil
}

// podUpdated queues pods newly bound to a node: one bound to a node that
// is not ready is marked not ready at once.
func (c *Controller) podUpdated(old, obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if prev, ok := old.(*corev1.Pod); ok && prev.Spec.NodeName == pod.Spec.NodeName {
		return
	}
	c.podWorker.AddObject(pod)
}

// Run monitors node health until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.logger.Info("starting controller")
	defer c.logger.Info("stopping controller")
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	run(func() { c.nodeWorker.Run(ctx, c.workers) })
	run(func() { c.podWorker.Run(ctx, c.workers) })
	run(func() { wait.UntilWithContext(ctx, c.taintPass, c.cfg.TaintPeriod) })
	run(func() {
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if err := c.monitorNodeHealth(ctx); err != nil && ctx.Err() == nil {
				c.logger.Error("monitor node health", "err", err)
			}
		}, c.monitorEvery)
	})
	wg.Wait()
	return nil
}

// syncNode keeps a node's NoSchedule taints and beta labels.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if err != nil {
		return ignoreNotFound(err)
	}
	add, remove := taintDiff(wantedNoScheduleTaints(node), managedNoScheduleTaints(node))
	if len(add) > 0 || len(remove) > 0 {
		if err := c.taints.swap(ctx, name, node, add, remove); err != nil {
			return err
		}
	}
	if labels := labelsToReconcile(node); len(labels) > 0 {
		return patchLabels(ctx, c.client, name, labels)
	}
	return nil
}
