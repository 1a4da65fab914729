package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
	"berth/internal/informer"
)

// Config tunes the service account controller.
type Config struct {
	// ServiceAccounts are the names ensured in every namespace. Default:
	// "default".
	ServiceAccounts []string
	// Workers is the number of namespaces synced concurrently. Default:
	// Options.Workers.
	Workers int
}

// Defaults fills unset fields.
func (c *Config) Defaults(o controller.Options) {
	if c.ServiceAccounts == nil {
		c.ServiceAccounts = []string{"default"}
	}
	if c.Workers == 0 {
		c.Workers = max(o.Workers, 1)
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	for _, n := range c.ServiceAccounts {
		if n == "" {
			return errors.New("serviceaccount controller: empty service account name")
		}
	}
	if c.Workers < 0 {
		return errors.New("serviceaccount controller: negative workers")
	}
	return nil
}

// Controller creates the service accounts every namespace must have.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	worker     *controller.Worker
	logger     *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns a service account controller ensuring "default".
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a service account controller configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	cfg.Defaults(s.Options)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "serviceaccount")
	nsInf := s.Informers.Core().V1().Namespaces()
	saInf := s.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		cfg: cfg, client: s.Client, logger: logger,
		namespaces: nsInf.Lister(),
		accounts:   saInf.Lister(),
		synced:     []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
	}
	c.worker = controller.NewWorker("serviceaccount", logger, c.sync)
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	}); err != nil {
		return nil, err
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { c.worker.AddObject(obj) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// serviceAccountDeleted queues the namespace of a deleted service account.
func (c *Controller) serviceAccountDeleted(obj interface{}) {
	sa, ok := informer.Object[*corev1.ServiceAccount](obj)
	if !ok {
		return
	}
	c.worker.Add(sa.Namespace)
}

// Run ensures service accounts until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

// sync creates the missing service accounts of an active namespace.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	var errs []error
	for _, sa := range c.cfg.ServiceAccounts {
		_, err := c.accounts.ServiceAccounts(name).Get(sa)
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: name},
		}, metav1.CreateOptions{})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace is going away: nothing to ensure.
		default:
			errs = append(errs, fmt.Errorf("create service account %s/%s: %w", name, sa, err))
		}
	}
	return errors.Join(errs...)
}
