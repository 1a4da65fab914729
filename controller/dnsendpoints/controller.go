package dnsendpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/internal/informer"
)

// Names of what the controller keeps.
const (
	// DefaultNamespace and DefaultService name the cluster DNS Service.
	DefaultNamespace = "kube-system"
	DefaultService   = "kube-dns"
	// ManagedBy is the endpointslice.kubernetes.io/managed-by label of the
	// EndpointSlices this controller keeps.
	ManagedBy = "berth-dns"
	// DefaultPort is where the agents' DNS servers listen.
	DefaultPort = 53
	// DefaultMaxEndpointsPerSlice is as Kubernetes' EndpointSlice
	// controller's.
	DefaultMaxEndpointsPerSlice = 100
	// Port names, as CoreDNS's kube-dns Service has them.
	PortDNS    = "dns"
	PortDNSTCP = "dns-tcp"
	// maxEndpointsAddresses caps the addresses of an Endpoints object, as
	// Kubernetes' endpoints controller does.
	maxEndpointsAddresses = 1000
)

// Config configures the controller.
type Config struct {
	// Namespace and Service name the DNS Service. Default
	// kube-system/kube-dns.
	Namespace, Service string
	// Port is the port the agents' DNS servers listen on, UDP and TCP.
	// Default 53.
	Port int32
	// MaxEndpointsPerSlice bounds each EndpointSlice. Default 100.
	MaxEndpointsPerSlice int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.MaxEndpointsPerSlice == 0 {
		c.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("dns endpoints: port %d out of range", c.Port))
	}
	if c.MaxEndpointsPerSlice < 1 || c.MaxEndpointsPerSlice > 1000 {
		errs = append(errs, fmt.Errorf("dns endpoints: max endpoints per slice %d: want 1 to 1000", c.MaxEndpointsPerSlice))
	}
	return errors.Join(errs...)
}

// Controller keeps the endpoints of the cluster DNS Service at the nodes.
type Controller struct {
	cfg       Config
	key       string
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	nodes     corelisters.NodeLister
	slices    discoverylisters.EndpointSliceLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	worker    *controller.Worker
	logger    *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns a controller for kube-system/kube-dns.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a controller configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "dns-endpoints-controller")
	svcInf := s.Informers.Core().V1().Services()
	nodeInf := s.Informers.Core().V1().Nodes()
	sliceInf := s.Informers.Discovery().V1().EndpointSlices()
	epInf := s.Informers.Core().V1().Endpoints()
	c := &Controller{
		cfg: cfg, key: cfg.Namespace + "/" + cfg.Service, client: s.Client, logger: logger,
		services: svcInf.Lister(), nodes: nodeInf.Lister(), slices: sliceInf.Lister(), endpoints: epInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced, epInf.Informer().HasSynced},
	}
	c.worker = controller.NewWorker("dns_endpoints", logger, c.sync)
	queue := func(interface{}) { c.worker.Add(c.key) }
	// Only objects of the DNS Service matter among services, slices and
	// endpoints.
	mine := func(obj interface{}) bool {
		m, ok := informer.Object[metav1.Object](obj)
		if !ok || m.GetNamespace() != cfg.Namespace {
			return false
		}
		if _, isSlice := m.(*discoveryv1.EndpointSlice); isSlice {
			return m.GetLabels()[discoveryv1.LabelServiceName] == cfg.Service || m.GetLabels()[discoveryv1.LabelManagedBy] == ManagedBy
		}
		return m.GetName() == cfg.Service
	}
	filtered := cache.FilteringResourceEventHandler{FilterFunc: mine, Handler: cache.ResourceEventHandlerFuncs{
		AddFunc: queue, UpdateFunc: func(_, _ interface{}) { c.worker.Add(c.key) }, DeleteFunc: queue,
	}}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer(), epInf.Informer()} {
		if _, err := inf.AddEventHandler(filtered); err != nil {
			return nil, err
		}
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: queue,
		UpdateFunc: func(old, cur interface{}) {
			if nodeState(old.(*corev1.Node)) != nodeState(cur.(*corev1.Node)) {
				c.worker.Add(c.key)
			}
		},
		DeleteFunc: queue,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run keeps the endpoints until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting", "service", c.key)
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Add(c.key)
	c.worker.Run(ctx, 1)
	return nil
}

// nodeState is what of a node makes its endpoint.
func nodeState(n *corev1.Node) string {
	return fmt.Sprint(n.Spec.PodCIDRs, n.Spec.PodCIDR, controller.NodeReady(n), n.Labels[corev1.LabelTopologyZone], n.DeletionTimestamp != nil)
}

// nodeEndpoint is the DNS server of one node.
type nodeEndpoint struct {
	node  string
	addr  netip.Addr
	ready bool
	zone  string
}

// DNSAddress is where a node's DNS server listens: the first address of
// its pod CIDR (the bridge gateway), e.g. 10.42.1.1 for 10.42.1.0/24.
func DNSAddress(podCIDR netip.Prefix) netip.Addr {
	return podCIDR.Masked().Addr().Next()
}

// nodeEndpoints are the DNS servers of the nodes with a pod CIDR of
// family is4, sorted by node name.
func (c *Controller) nodeEndpoints(is4 bool) ([]nodeEndpoint, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []nodeEndpoint
	for _, n := range nodes {
		if n.DeletionTimestamp != nil {
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, s := range cidrs {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Addr().Is4() != is4 || p.Bits() >= p.Addr().BitLen() {
				continue
			}
			out = append(out, nodeEndpoint{node: n.Name, addr: DNSAddress(p), ready: controller.NodeReady(n), zone: n.Labels[corev1.LabelTopologyZone]})
			break
		}
	}
	slices.SortFunc(out, func(a, b nodeEndpoint) int {
		if a.node < b.node {
			return -1
		}
		if a.node > b.node {
			return 1
		}
		return 0
	})
	return out, nil
}

// sync makes the EndpointSlices and Endpoints of the DNS Service match the
// nodes.
func (c *Controller) sync(ctx context.Context, _ string) error {
	svc, err := c.services.Services(c.cfg.Namespace).Get(c.cfg.Service)
	switch {
	case apierrors.IsNotFound(err):
		// No Service, no endpoints (the endpoints controller deletes the
		// Endpoints of a deleted Service; the slices are ours).
		return c.syncSlices(ctx, nil, nil)
	case err != nil:
		return err
	}
	if svc.Spec.Selector != nil {
		// A selector means DNS pods of the user's: the endpoint
		// controllers keep its endpoints.
		return c.syncSlices(ctx, nil, nil)
	}
	is4 := len(svc.Spec.IPFamilies) == 0 || svc.Spec.IPFamilies[0] == corev1.IPv4Protocol
	eps, err := c.nodeEndpoints(is4)
	if err != nil {
		return err
	}
	if err := c.syncSlices(ctx, svc, eps); err != nil {
		return err
	}
	return c.syncEndpoints(ctx, svc, eps)
}

func (c *Controller) ports() []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{
		{Name: ptr.To(PortDNS), Port: ptr.To(c.cfg.Port), Protocol: ptr.To(corev1.ProtocolUDP)},
		{Name: ptr.To(PortDNSTCP), Port: ptr.To(c.cfg.Port), Protocol: ptr.To(corev1.ProtocolTCP)},
	}
}

// sliceName is the name of the i-th slice.
func (c *Controller) sliceName(i int) string {
	if i == 0 {
		return c.cfg.Service
	}
	return c.cfg.Service + "-" + strconv.Itoa(i)
}

// desiredSlices cuts eps into slices; none without a Service.
func (c *Controller) desiredSlices(svc *corev1.Service, eps []nodeEndpoint) []*discoveryv1.EndpointSlice {
	if svc == nil {
		return nil
	}
	lbls := map[string]string{}
	maps.Copy(lbls, svc.Labels)
	lbls[discoveryv1.LabelServiceName] = svc.Name
	lbls[discoveryv1.LabelManagedBy] = ManagedBy
	addressType := discoveryv1.AddressTypeIPv4
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		addressType = discoveryv1.AddressTypeIPv6
	}
	owner := metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	var out []*discoveryv1.EndpointSlice
	// One slice even without nodes, as Kubernetes keeps a placeholder.
	for i := 0; i == 0 || i*c.cfg.MaxEndpointsPerSlice < len(eps); i++ {
		chunk := eps[min(i*c.cfg.MaxEndpointsPerSlice, len(eps)):min((i+1)*c.cfg.MaxEndpointsPerSlice, len(eps))]
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: c.sliceName(i), Namespace: svc.Namespace, Labels: maps.Clone(lbls),
				OwnerReferences: []metav1.OwnerReference{*owner},
			},
			AddressType: addressType,
			Ports:       c.ports(),
		}
		for _, ep := range chunk {
			e := discoveryv1.Endpoint{
				Addresses: []string{ep.addr.String()},
				Conditions: discoveryv1.EndpointConditions{
					Ready: ptr.To(ep.ready), Serving: ptr.To(ep.ready), Terminating: ptr.To(false),
				},
				NodeName: ptr.To(ep.node),
			}
			if ep.zone != "" {
				e.Zone = ptr.To(ep.zone)
			}
			s.Endpoints = append(s.Endpoints, e)
		}
		out = append(out, s)
	}
	return out
}

// syncSlices creates, updates and deletes this controller's slices so that
// they are the desired ones.
func (c *Controller) syncSlices(ctx context.Context, svc *corev1.Service, eps []nodeEndpoint) error {
	existing, err := c.slices.EndpointSlices(c.cfg.Namespace).List(labels.Set{discoveryv1.LabelManagedBy: ManagedBy}.AsSelectorPreValidated())
	if err != nil {
		return fmt.Errorf("list endpoint slices: %w", err)
	}
	have := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if s.Labels[discoveryv1.LabelServiceName] == c.cfg.Service {
			have[s.Name] = s
		}
	}
	api := c.client.DiscoveryV1().EndpointSlices(c.cfg.Namespace)
	var errs []error
	for _, want := range c.desiredSlices(svc, eps) {
		cur, ok := have[want.Name]
		delete(have, want.Name)
		switch {
		case !ok:
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Not in the cache yet, or someone else's: the next
				// sync sees it.
				err = fmt.Errorf("endpoint slice %s exists", want.Name)
			}
		case cur.AddressType != want.AddressType:
			// The address type is immutable.
			if err = api.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err == nil {
				_, err = api.Create(ctx, want, metav1.CreateOptions{})
			}
		case !sliceEqual(cur, want):
			upd := cur.DeepCopy()
			upd.Labels, upd.OwnerReferences, upd.Endpoints, upd.Ports = want.Labels, want.OwnerReferences, want.Endpoints, want.Ports
			_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
		default:
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("endpoint slice %s/%s: %w", c.cfg.Namespace, want.Name, err))
		}
	}
	for _, s := range have {
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpoint slice %s/%s: %w", c.cfg.Namespace, s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func sliceEqual(a, b *discoveryv1.EndpointSlice) bool {
	return maps.Equal(a.Labels, b.Labels) &&
		apiequality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(a.Endpoints, b.Endpoints) &&
		apiequality.Semantic.DeepEqual(a.Ports, b.Ports)
}

// syncEndpoints keeps the Endpoints of the Service, which `kubectl get
// endpoints` shows.
func (c *Controller) syncEndpoints(ctx context.Context, svc *corev1.Service, eps []nodeEndpoint) error {
	want := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: maps.Clone(svc.Labels)}}
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	// The slices are kept here: not to be mirrored from the Endpoints.
	want.Labels[discoveryv1.LabelSkipMirror] = "true"
	if len(eps) > maxEndpointsAddresses {
		want.Annotations = map[string]string{corev1.EndpointsOverCapacity: "truncated"}
		eps = eps[:maxEndpointsAddresses]
	}
	if len(eps) > 0 {
		sorted := slices.Clone(eps)
		slices.SortFunc(sorted, func(a, b nodeEndpoint) int { return a.addr.Compare(b.addr) })
		subset := corev1.EndpointSubset{Ports: []corev1.EndpointPort{
			{Name: PortDNS, Port: c.cfg.Port, Protocol: corev1.ProtocolUDP},
			{Name: PortDNSTCP, Port: c.cfg.Port, Protocol: corev1.ProtocolTCP},
		}}
		for _, ep := range sorted {
			a := corev1.EndpointAddress{IP: ep.addr.String(), NodeName: ptr.To(ep.node)}
			if ep.ready {
				subset.Addresses = append(subset.Addresses, a)
			} else {
				subset.NotReadyAddresses = append(subset.NotReadyAddresses, a)
			}
		}
		want.Subsets = []corev1.EndpointSubset{subset}
	}
	api := c.client.CoreV1().Endpoints(svc.Namespace)
	cur, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	if apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	overCapacity := cur.Annotations[corev1.EndpointsOverCapacity]
	if maps.Equal(cur.Labels, want.Labels) && overCapacity == want.Annotations[corev1.EndpointsOverCapacity] &&
		apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Labels, upd.Subsets = want.Labels, want.Subsets
	if want.Annotations != nil {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		maps.Copy(upd.Annotations, want.Annotations)
	} else {
		delete(upd.Annotations, corev1.EndpointsOverCapacity)
	}
	if _, err := api.Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}
