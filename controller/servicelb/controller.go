package servicelb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/internal/informer"
)

const (
	// Finalizer keeps a LoadBalancer Service until its load balancer is
	// deleted, as Kubernetes' service controller does.
	Finalizer = "service.kubernetes.io/load-balancer-cleanup"
	// Component is the event source, as Kubernetes' service controller's.
	Component = "service-controller"
	// toBeDeletedTaint marks nodes the cluster autoscaler is removing;
	// they take no load-balancer traffic, as in Kubernetes.
	toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"
)

// Config configures the controller.
type Config struct {
	// Provider implements the load balancers. Default: NodeAddresses, the
	// built-in provider.
	Provider Provider
	// Workers is the number of Services synced concurrently. Default:
	// Options.Workers.
	Workers int
}

// Controller keeps the load balancers of LoadBalancer Services and their
// status.loadBalancer.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	worker   *controller.Worker
	logger   *slog.Logger

	mu sync.Mutex
	// ensured holds, by key, the last Service whose load balancer was
	// ensured: a Service that differs from it gets the Ensuring events;
	// one deleted without the finalizer has its load balancer deleted.
	ensured map[string]*corev1.Service
}

var _ controller.Controller = (*Controller)(nil)

// New returns a controller with the built-in provider.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a controller configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	if cfg.Workers == 0 {
		cfg.Workers = max(s.Options.Workers, 1)
	}
	if cfg.Workers < 0 {
		return nil, errors.New("service lb: negative workers")
	}
	svcInf := s.Informers.Core().V1().Services()
	nodeInf := s.Informers.Core().V1().Nodes()
	sliceInf := s.Informers.Discovery().V1().EndpointSlices()
	if cfg.Provider == nil {
		cfg.Provider = NewNodeAddresses(sliceInf.Lister())
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "service-lb-controller")
	c := &Controller{
		cfg: cfg, client: s.Client, logger: logger,
		services: svcInf.Lister(), nodes: nodeInf.Lister(),
		synced:   []cache.InformerSynced{svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		recorder: s.Recorder(Component),
		ensured:  map[string]*corev1.Service{},
	}
	c.worker = controller.NewWorker("service_lb", logger, c.sync)
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if svc := obj.(*corev1.Service); wantsLoadBalancer(svc) || hasFinalizer(svc) {
				c.worker.AddObject(obj)
			}
		},
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.Service), cur.(*corev1.Service)
			if wantsLoadBalancer(o) || wantsLoadBalancer(n) || hasFinalizer(n) {
				c.worker.AddObject(cur)
			}
		},
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, err
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { c.queueAll() },
		UpdateFunc: func(old, cur interface{}) {
			if nodeState(old.(*corev1.Node)) != nodeState(cur.(*corev1.Node)) {
				c.queueAll()
			}
		},
		DeleteFunc: func(interface{}) { c.queueAll() },
	}); err != nil {
		return nil, err
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, cur interface{}) { c.sliceChanged(cur) },
		DeleteFunc: c.sliceChanged,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run keeps load balancers until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

// wantsLoadBalancer reports whether svc asks for a load balancer of this
// controller: type LoadBalancer without a loadBalancerClass, as in
// Kubernetes (a class names another implementation).
func wantsLoadBalancer(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

func hasFinalizer(svc *corev1.Service) bool { return slices.Contains(svc.Finalizers, Finalizer) }

// needsCleanup reports whether the load balancer of svc must go: the
// Service holds the finalizer and is being deleted or no longer of type
// LoadBalancer.
func needsCleanup(svc *corev1.Service) bool {
	return hasFinalizer(svc) && (svc.DeletionTimestamp != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer)
}

// queueAll queues every Service that wants a load balancer (the nodes
// changed).
func (c *Controller) queueAll() {
	list, err := c.services.List(labels.Everything())
	if err != nil {
		c.logger.Error("list services", "err", err)
		return
	}
	for _, svc := range list {
		if wantsLoadBalancer(svc) {
			c.worker.AddObject(svc)
		}
	}
}

// sliceChanged queues the Service of an EndpointSlice if its load balancer
// depends on its endpoints (externalTrafficPolicy Local).
func (c *Controller) sliceChanged(obj interface{}) {
	s, ok := informer.Object[*discoveryv1.EndpointSlice](obj)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	svc, err := c.services.Services(s.Namespace).Get(s.Labels[discoveryv1.LabelServiceName])
	if err == nil && wantsLoadBalancer(svc) && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		c.worker.AddObject(svc)
	}
}

// nodeState is what of a node matters to load balancers.
func nodeState(n *corev1.Node) string {
	_, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]
	b, _ := json.Marshal(struct {
		Ready, Unschedulable, Excluded, ToBeDeleted, Deleting bool
		Addresses                                             []corev1.NodeAddress
	}{controller.NodeReady(n), n.Spec.Unschedulable, excluded, hasTaint(n, toBeDeletedTaint), n.DeletionTimestamp != nil, n.Status.Addresses})
	return string(b)
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// candidateNodes are the nodes that may take load-balancer traffic, as
// Kubernetes' service controller chooses them: not being deleted, not
// labelled node.kubernetes.io/exclude-from-external-load-balancers, not
// tainted ToBeDeletedByClusterAutoscaler. Readiness is the provider's
// business.
func (c *Controller) candidateNodes() ([]*corev1.Node, error) {
	all, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []*corev1.Node
	for _, n := range all {
		if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; excluded || n.DeletionTimestamp != nil || hasTaint(n, toBeDeletedTaint) {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sync ensures or deletes the load balancer of one Service.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleted(ctx, key)
	}
	if err != nil {
		return err
	}
	if wantsLoadBalancer(svc) && !needsCleanup(svc) {
		return c.ensure(ctx, key, svc)
	}
	return c.cleanup(ctx, key, svc)
}

// spec is what of a Service makes its load balancer: when it changes the
// load balancer is ensured with events.
func spec(svc *corev1.Service) string {
	b, _ := json.Marshal(struct {
		UID         types.UID
		Spec        corev1.ServiceSpec
		Annotations map[string]string
	}{svc.UID, svc.Spec, svc.Annotations})
	return string(b)
}

func (c *Controller) lastEnsured(key string) *corev1.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ensured[key]
}

func (c *Controller) setEnsured(key string, svc *corev1.Service) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if svc == nil {
		delete(c.ensured, key)
		return
	}
	c.ensured[key] = svc
}

// ensure adds the finalizer, ensures the load balancer and writes its
// status, as Kubernetes' service controller.
func (c *Controller) ensure(ctx context.Context, key string, svc *corev1.Service) error {
	last := c.lastEnsured(key)
	changed := last == nil || spec(last) != spec(svc)
	if changed {
		c.recorder.Event(svc, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer")
	}
	// The finalizer comes first, so that the Service cannot go before its
	// load balancer.
	if !hasFinalizer(svc) {
		if err := c.patchFinalizers(ctx, svc, append(slices.Clone(svc.Finalizers), Finalizer)); err != nil {
			return fmt.Errorf("add load balancer cleanup finalizer to %s: %w", key, err)
		}
	}
	nodes, err := c.candidateNodes()
	if err != nil {
		return err
	}
	status, err := c.cfg.Provider.EnsureLoadBalancer(ctx, svc, nodes)
	if err == nil && status == nil {
		err = errors.New("provider returned no status")
	}
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "SyncLoadBalancerFailed", "Error syncing load balancer: %v", err)
		return fmt.Errorf("ensure load balancer of %s: %w", key, err)
	}
	if changed {
		c.recorder.Event(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer")
	}
	updated, err := c.patchStatus(ctx, svc, status)
	if err != nil {
		return fmt.Errorf("update load balancer status of %s: %w", key, err)
	}
	switch {
	case len(status.Ingress) == 0 && (changed || updated):
		c.recorder.Event(svc, corev1.EventTypeWarning, "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer")
	case updated && !changed:
		c.recorder.Event(svc, corev1.EventTypeNormal, "UpdatedLoadBalancer", "Updated load balancer with new hosts")
	}
	if updated {
		c.logger.Info("load balancer status updated", "service", key, "ingress", ingressIPs(status))
	}
	c.setEnsured(key, svc.DeepCopy())
	return nil
}

// cleanup deletes the load balancer of a Service that no longer wants
// one, removes the finalizer and clears the status. Services this
// controller never balanced (say of another loadBalancerClass) are left
// alone.
func (c *Controller) cleanup(ctx context.Context, key string, svc *corev1.Service) error {
	last := c.lastEnsured(key)
	if !hasFinalizer(svc) && (last == nil || last.UID != svc.UID) {
		return nil
	}
	c.recorder.Event(svc, corev1.EventTypeNormal, "DeletingLoadBalancer", "Deleting load balancer")
	if err := c.cfg.Provider.EnsureLoadBalancerDeleted(ctx, svc); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "DeleteLoadBalancerFailed", "Error deleting load balancer: %v", err)
		return fmt.Errorf("delete load balancer of %s: %w", key, err)
	}
	if hasFinalizer(svc) {
		kept := slices.DeleteFunc(slices.Clone(svc.Finalizers), func(f string) bool { return f == Finalizer })
		if err := c.patchFinalizers(ctx, svc, kept); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove load balancer cleanup finalizer from %s: %w", key, err)
		}
	}
	c.recorder.Event(svc, corev1.EventTypeNormal, "DeletedLoadBalancer", "Deleted load balancer")
	// Another class's status is not ours to clear.
	if svc.Spec.LoadBalancerClass == nil {
		if _, err := c.patchStatus(ctx, svc, &corev1.LoadBalancerStatus{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("clear load balancer status of %s: %w", key, err)
		}
	}
	c.setEnsured(key, nil)
	return nil
}

// deleted deletes the load balancer of a Service gone without the
// finalizer (removed by hand, say), from its last known state.
func (c *Controller) deleted(ctx context.Context, key string) error {
	last := c.lastEnsured(key)
	if last == nil {
		return nil
	}
	c.recorder.Event(last, corev1.EventTypeNormal, "DeletingLoadBalancer", "Deleting load balancer")
	if err := c.cfg.Provider.EnsureLoadBalancerDeleted(ctx, last); err != nil {
		c.recorder.Eventf(last, corev1.EventTypeWarning, "DeleteLoadBalancerFailed", "Error deleting load balancer: %v", err)
		return fmt.Errorf("delete load balancer of %s: %w", key, err)
	}
	c.recorder.Event(last, corev1.EventTypeNormal, "DeletedLoadBalancer", "Deleted load balancer")
	c.setEnsured(key, nil)
	return nil
}

// patchFinalizers sets the finalizers of svc with a strategic merge patch
// of metadata.finalizers alone, as Kubernetes' service helper does.
func (c *Controller) patchFinalizers(ctx context.Context, svc *corev1.Service, finalizers []string) error {
	before, err := json.Marshal(corev1.Service{ObjectMeta: metav1.ObjectMeta{Finalizers: svc.Finalizers}})
	if err != nil {
		return err
	}
	after, err := json.Marshal(corev1.Service{ObjectMeta: metav1.ObjectMeta{Finalizers: finalizers}})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(before, after, corev1.Service{})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// patchStatus writes status.loadBalancer through the status subresource
// if it differs; it reports whether it wrote.
func (c *Controller) patchStatus(ctx context.Context, svc *corev1.Service, status *corev1.LoadBalancerStatus) (bool, error) {
	if statusEqual(&svc.Status.LoadBalancer, status) {
		return false, nil
	}
	var ingress interface{} // null clears the list
	if len(status.Ingress) > 0 {
		ingress = status.Ingress
	}
	patch, err := json.Marshal(map[string]interface{}{
		"status": map[string]interface{}{"loadBalancer": map[string]interface{}{"ingress": ingress}},
	})
	if err != nil {
		return false, err
	}
	if _, err := c.client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return false, err
	}
	return true, nil
}

func statusEqual(a, b *corev1.LoadBalancerStatus) bool {
	if len(a.Ingress) == 0 && len(b.Ingress) == 0 {
		return true
	}
	return apiequality.Semantic.DeepEqual(a.Ingress, b.Ingress)
}

func ingressIPs(s *corev1.LoadBalancerStatus) []string {
	out := make([]string, 0, len(s.Ingress))
	for _, i := range s.Ingress {
		out = append(out, i.IP+i.Hostname)
	}
	return out
}
