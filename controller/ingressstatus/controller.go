package ingressstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
	"berth/ingress"
)

// Defaults: the class the agents' ingress controller (package ingress)
// serves.
const (
	DefaultClassName  = ingress.DefaultClassName
	DefaultController = ingress.DefaultControllerName
)

// Config configures the controller.
type Config struct {
	// ClassName is the IngressClass whose Ingresses get the status.
	// Default "berth".
	ClassName string
	// Controller is the spec.controller of IngressClasses served alike.
	// Default "berth.dev/ingress".
	Controller string
	// Workers is the number of Ingresses synced concurrently. Default:
	// Options.Workers.
	Workers int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.ClassName == "" {
		c.ClassName = DefaultClassName
	}
	if c.Controller == "" {
		c.Controller = DefaultController
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 0 {
		return errors.New("ingress status: negative workers")
	}
	return nil
}

// Controller writes the status of berth's Ingresses.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	worker    *controller.Worker
	logger    *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns a controller for the class "berth".
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a controller configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
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
	logger = logger.With("controller", "ingress-status-controller")
	ingInf := s.Informers.Networking().V1().Ingresses()
	classInf := s.Informers.Networking().V1().IngressClasses()
	nodeInf := s.Informers.Core().V1().Nodes()
	c := &Controller{
		cfg: cfg, client: s.Client, logger: logger,
		ingresses: ingInf.Lister(), classes: classInf.Lister(), nodes: nodeInf.Lister(),
		synced: []cache.InformerSynced{ingInf.Informer().HasSynced, classInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
	}
	c.worker = controller.NewWorker("ingress_status", logger, c.sync)
	if _, err := ingInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, cur interface{}) { c.worker.AddObject(cur) },
	}); err != nil {
		return nil, err
	}
	all := func(interface{}) { c.queueAll() }
	if _, err := classInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(_, _ interface{}) { c.queueAll() }, DeleteFunc: all,
	}); err != nil {
		return nil, err
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(old, cur interface{}) {
			if !slices.Equal(nodeIPs(old.(*corev1.Node)), nodeIPs(cur.(*corev1.Node))) {
				c.queueAll()
			}
		},
		DeleteFunc: all,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run writes statuses until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting", "class", c.cfg.ClassName)
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

func (c *Controller) queueAll() {
	list, err := c.ingresses.List(labels.Everything())
	if err != nil {
		c.logger.Error("list ingresses", "err", err)
		return
	}
	for _, ing := range list {
		c.worker.AddObject(ing)
	}
}

// ours reports whether ing is served by berth's ingress controller, by
// the rule that controller uses (ingress.ClassesOf).
func (c *Controller) ours(ing *networkingv1.Ingress) (bool, error) {
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return false, fmt.Errorf("list ingress classes: %w", err)
	}
	return ingress.ClassesOf(classes, c.cfg.ClassName, c.cfg.Controller).Owns(ing), nil
}

// nodeIPs are the InternalIPs of a Ready node that is not being deleted.
func nodeIPs(n *corev1.Node) []string {
	if n.DeletionTimestamp != nil || !controller.NodeReady(n) {
		return nil
	}
	var out []string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			out = append(out, a.Address)
		}
	}
	return out
}

// status is the load-balancer status of berth's Ingresses: the
// InternalIPs of the Ready nodes, sorted, each once.
func (c *Controller) status() ([]networkingv1.IngressLoadBalancerIngress, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var addrs []netip.Addr
	for _, n := range nodes {
		for _, s := range nodeIPs(n) {
			if a, err := netip.ParseAddr(s); err == nil {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	addrs = slices.Compact(addrs)
	var out []networkingv1.IngressLoadBalancerIngress
	for _, a := range addrs {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a.String()})
	}
	return out, nil
}

// sync writes the status of one Ingress if it is berth's.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ing, err := c.ingresses.Ingresses(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ing.DeletionTimestamp != nil {
		return nil
	}
	ok, err := c.ours(ing)
	if err != nil || !ok {
		return err
	}
	want, err := c.status()
	if err != nil {
		return err
	}
	if equal(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	var list interface{} // null clears it
	if len(want) > 0 {
		list = want
	}
	patch, err := json.Marshal(map[string]interface{}{
		"status": map[string]interface{}{"loadBalancer": map[string]interface{}{"ingress": list}},
	})
	if err != nil {
		return err
	}
	if _, err := c.client.NetworkingV1().Ingresses(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of ingress %s: %w", key, err)
	}
	c.logger.Info("ingress status updated", "ingress", key, "addresses", len(want))
	return nil
}

func equal(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP || a[i].Hostname != b[i].Hostname || len(a[i].Ports) != 0 || len(b[i].Ports) != 0 {
			return false
		}
	}
	return true
}
