package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/controller/endpoints/endpointutil"
	"berth/internal/informer"
)

// Name is the controller's name, as kube-controller-manager's.
const Name = "endpointslice-controller"

// component is the source of the controller's events.
const component = "endpoint-slice-controller"

// sliceChangeDelay batches the syncs caused by changes of slices.
const sliceChangeDelay = time.Second

// Config holds the controller's tunables.
type Config struct {
	// MaxEndpointsPerSlice bounds the endpoints of a slice
	// (--max-endpoints-per-slice). Default 100; at most 1000.
	MaxEndpointsPerSlice int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MaxEndpointsPerSlice == 0 {
		c.MaxEndpointsPerSlice = 100
	}
}

// Validate checks a defaulted configuration.
func (c *Config) Validate() error {
	if c.MaxEndpointsPerSlice < 1 || c.MaxEndpointsPerSlice > 1000 {
		return errors.New("maxEndpointsPerSlice must be between 1 and 1000")
	}
	return nil
}

// Controller is the EndpointSlice controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	workers  int

	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	worker   *controller.Worker

	tracker  *tracker
	triggers *endpointutil.TriggerTimeTracker
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
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", Name)
	c := &Controller{
		cfg:      cfg,
		client:   s.Client,
		logger:   logger,
		recorder: s.Recorder(component),
		workers:  opts.Workers,
		tracker:  newTracker(),
		triggers: endpointutil.NewTriggerTimeTracker(),
	}
	c.worker = controller.NewWorker(Name, logger, c.sync)
	services := s.Informers.Core().V1().Services()
	pods := s.Informers.Core().V1().Pods()
	slices := s.Informers.Discovery().V1().EndpointSlices()
	nodes := s.Informers.Core().V1().Nodes()
	c.services, c.pods, c.slices, c.nodes = services.Lister(), pods.Lister(), slices.Lister(), nodes.Lister()
	c.synced = []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced,
		slices.Informer().HasSynced, nodes.Informer().HasSynced}

	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { c.worker.AddObject(obj) },
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("%s: service handler: %w", Name, err)
	}
	if _, err := pods.Informer().AddEventHandler(endpointutil.PodHandler(c.services, c.worker.Add, logger)); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	if _, err := slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && managed(s) && c.tracker.shouldSync(s) {
				c.queueServiceOf(s)
			}
		},
		UpdateFunc: func(old, cur interface{}) {
			prev, ok1 := old.(*discoveryv1.EndpointSlice)
			s, ok2 := cur.(*discoveryv1.EndpointSlice)
			if !ok1 || !ok2 {
				return
			}
			if prev.Labels[discoveryv1.LabelServiceName] != s.Labels[discoveryv1.LabelServiceName] {
				c.queueServiceOf(s)
				c.queueServiceOf(prev)
				return
			}
			if managed(prev) != managed(s) || managed(s) && c.tracker.shouldSync(s) {
				c.queueServiceOf(s)
			}
		},
		DeleteFunc: func(obj interface{}) {
			s, ok := informer.Object[*discoveryv1.EndpointSlice](obj)
			if !ok {
				return
			}
			if managed(s) && c.tracker.has(s) && !c.tracker.handleDeletion(s) {
				c.queueServiceOf(s)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: endpointslice handler: %w", Name, err)
	}
	return c, nil
}

// managed reports whether this controller manages a slice.
func managed(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ManagedBy
}

func (c *Controller) queueServiceOf(s *discoveryv1.EndpointSlice) {
	key, err := serviceKeyOf(s)
	if err != nil {
		return
	}
	c.worker.AddAfter(key, sliceChangeDelay)
}

// Run keeps EndpointSlices until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.logger.Info("starting controller")
	defer c.logger.Info("stopping controller")
	c.worker.Run(ctx, c.workers)
	return nil
}

// errStaleCache: the informer has not caught up with the controller's
// writes; the sync is retried.
var errStaleCache = errors.New("EndpointSlice informer cache is out of date")

// sync makes a Service's EndpointSlices match its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.Delete(namespace, name)
		c.tracker.deleteService(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	all, err := c.slices.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ManagedBy,
	}.AsSelectorPreValidated())
	if err != nil {
		return err
	}
	var slices []*discoveryv1.EndpointSlice
	for _, s := range all {
		if s.DeletionTimestamp == nil {
			slices = append(slices, s)
		}
	}
	if c.tracker.stale(key, slices) {
		return errStaleCache
	}
	trigger, commit := c.triggers.Compute(namespace, svc, pods)
	if err := c.reconcile(ctx, svc, pods, slices, trigger); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	commit()
	return nil
}
