package rootcacert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
	"berth/internal/informer"
)

// Names and texts as Kubernetes publishes them.
const (
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// Key is the ConfigMap key holding the PEM certificates.
	Key = "ca.crt"
	// DescriptionAnnotation describes the ConfigMap's use.
	DescriptionAnnotation = "kubernetes.io/description"
	// Description is the text of DescriptionAnnotation.
	Description = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Config configures the publisher.
type Config struct {
	// RootCA is the cluster CA certificate bundle (PEM) to publish.
	// Required.
	RootCA []byte
	// Workers is the number of namespaces synced concurrently. Default:
	// Options.Workers.
	Workers int
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.RootCA) == 0 {
		return errors.New("root CA publisher: no root CA certificate")
	}
	if c.Workers < 0 {
		return errors.New("root CA publisher: negative workers")
	}
	return nil
}

// Controller publishes the root CA in every namespace.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	worker     *controller.Worker
	logger     *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// NewWithConfig returns a publisher of cfg.RootCA.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	if cfg.Workers == 0 {
		cfg.Workers = max(s.Options.Workers, 1)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "root-ca-cert-publisher")
	nsInf := s.Informers.Core().V1().Namespaces()
	cmInf := s.Informers.Core().V1().ConfigMaps()
	c := &Controller{
		cfg: cfg, client: s.Client, logger: logger,
		configMaps: cmInf.Lister(),
		synced:     []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced},
	}
	c.worker = controller.NewWorker("root_ca_cert_publisher", logger, c.sync)
	if _, err := cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { c.configMapChanged(obj) },
		DeleteFunc: c.configMapChanged,
	}); err != nil {
		return nil, err
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) {
			if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
				c.worker.AddObject(obj)
			}
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// configMapChanged queues the namespace of a changed or deleted
// kube-root-ca.crt.
func (c *Controller) configMapChanged(obj interface{}) {
	cm, ok := informer.Object[*corev1.ConfigMap](obj)
	if !ok || cm.Name != ConfigMapName {
		return
	}
	c.worker.Add(cm.Namespace)
}

// Run publishes until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

// sync creates or repairs the ConfigMap of namespace ns.
func (c *Controller) sync(ctx context.Context, ns string) error {
	data := map[string]string{Key: string(c.cfg.RootCA)}
	cm, err := c.configMaps.ConfigMaps(ns).Get(ConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		_, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ConfigMapName,
				Annotations: map[string]string{DescriptionAnnotation: Description},
			},
			Data: data,
		}, metav1.CreateOptions{})
		// A namespace gone or going away needs nothing.
		if err == nil || apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("create %s/%s: %w", ns, ConfigMapName, err)
	case err != nil:
		return err
	}
	if maps.Equal(cm.Data, data) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = data
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update %s/%s: %w", ns, ConfigMapName, err)
	}
	return nil
}
