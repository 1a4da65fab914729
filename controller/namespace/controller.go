package namespace

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
)

// Config tunes the namespace controller.
type Config struct {
	// DeletionGracePeriod is how long after a namespace event the
	// namespace is processed, so that late creations in it are seen.
	// Default 5s (Kubernetes' namespaceDeletionGracePeriod).
	DeletionGracePeriod time.Duration
	// ResyncPeriod is how often every namespace is looked at again.
	// Default 5m (Kubernetes' namespace sync period).
	ResyncPeriod time.Duration
	// Workers is the number of namespaces deleted concurrently. Default
	// 10 (--concurrent-namespace-syncs).
	Workers int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DeletionGracePeriod == 0 {
		c.DeletionGracePeriod = 5 * time.Second
	}
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = 5 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 10
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DeletionGracePeriod < 0 || c.ResyncPeriod < 0 || c.Workers < 0 {
		return errors.New("namespace controller: negative configuration value")
	}
	return nil
}

// Controller deletes the content of terminating namespaces.
type Controller struct {
	cfg     Config
	lister  corelisters.NamespaceLister
	synced  cache.InformerSynced
	worker  *controller.Worker
	deleter *deleter
	logger  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns a namespace controller with the default configuration.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a namespace controller configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.Client == nil || s.Metadata == nil {
		return nil, errors.New("namespace controller: a client and a metadata client are required")
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "namespace")
	now := s.Now
	if now == nil {
		now = time.Now
	}
	informer := s.Informers.Core().V1().Namespaces()
	c := &Controller{
		cfg:    cfg,
		lister: informer.Lister(),
		synced: informer.Informer().HasSynced,
		logger: logger,
		deleter: &deleter{
			client: s.Client, md: s.Metadata, discovery: s.Client.Discovery(), now: now, logger: logger,
		},
	}
	c.worker = controller.NewWorker("namespace", logger, c.sync)
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// enqueue queues a namespace marked for deletion, after the grace period.
func (c *Controller) enqueue(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.worker.AddAfter(ns.Name, c.cfg.DeletionGracePeriod)
}

// Run deletes namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	go c.resync(ctx)
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

// resync queues every terminating namespace each ResyncPeriod.
func (c *Controller) resync(ctx context.Context) {
	t := time.NewTicker(c.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		all, err := c.lister.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, ns := range all {
			c.enqueue(ns)
		}
	}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	if _, err := c.lister.Get(name); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	err := c.deleter.delete(ctx, name)
	var left *remainingError
	if errors.As(err, &left) {
		wait := time.Duration(left.Estimate/2+1) * time.Second
		c.logger.Debug("content remains in namespace", "namespace", name, "retryAfter", wait)
		c.worker.AddAfter(name, wait)
		return nil
	}
	return err
}
