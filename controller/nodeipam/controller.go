package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

// Defaults, as k3s's.
const (
	// DefaultClusterCIDR is the pod network cut into node ranges.
	DefaultClusterCIDR = "10.42.0.0/16"
	// DefaultNodeCIDRMaskSize is the prefix length of a node's range in an
	// IPv4 cluster CIDR; IPv6 ranges are /64 by default, as Kubernetes'.
	DefaultNodeCIDRMaskSize     = 24
	defaultNodeCIDRMaskSizeIPv6 = 64
)

// Event reasons, as Kubernetes' range allocator records them.
const (
	// ReasonCIDRNotAvailable: the cluster CIDR has no free node range.
	ReasonCIDRNotAvailable = "CIDRNotAvailable"
	// ReasonCIDRAssignmentFailed: the API server refused the node's range.
	ReasonCIDRAssignmentFailed = "CIDRAssignmentFailed"
)

// Component is the event source, as Kubernetes' range allocator's.
const Component = "cidrAllocator"

// Config configures the allocator.
type Config struct {
	// ClusterCIDR is the pod network (kube-controller-manager's
	// --cluster-cidr). Default DefaultClusterCIDR.
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's range
	// (--node-cidr-mask-size). Default 24 for an IPv4 cluster CIDR, 64 for
	// IPv6. It lies between the cluster CIDR's prefix length and the
	// address length minus 2, at most MaxSubnetBits longer than the prefix.
	NodeCIDRMaskSize int
	// Workers is the number of nodes synced concurrently. Default:
	// Options.Workers.
	Workers int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = DefaultClusterCIDR
	}
	if c.NodeCIDRMaskSize == 0 {
		c.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
		if p, err := netip.ParsePrefix(c.ClusterCIDR); err == nil && p.Addr().Is6() {
			c.NodeCIDRMaskSize = defaultNodeCIDRMaskSizeIPv6
		}
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	p, err := netip.ParsePrefix(c.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("cluster CIDR: %w", err)
	}
	if p != p.Masked() {
		return fmt.Errorf("cluster CIDR %s has host bits set (want %s)", p, p.Masked())
	}
	if _, err := newCIDRSet(p, c.NodeCIDRMaskSize); err != nil {
		return err
	}
	if c.Workers < 0 {
		return errors.New("node ipam: negative workers")
	}
	return nil
}

// holding is the node range a node holds.
type holding struct {
	prefix      netip.Prefix
	first, last int
	// pending is set for a range this controller picked and has not yet
	// seen in the Node: the patch may or may not have gone through.
	pending bool
}

// Controller gives every Node a pod CIDR.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	recorder record.EventRecorder
	worker   *controller.Worker
	logger   *slog.Logger

	mu   sync.Mutex
	set  *cidrSet
	held map[string]holding // by node name
	// outside remembers the pod CIDRs of nodes outside the cluster CIDR
	// already logged, so that each is logged once.
	outside map[string]string
	// starved are nodes waiting for a range to be released.
	starved map[string]bool
}

var _ controller.Controller = (*Controller)(nil)

// New returns an allocator of the default cluster CIDR.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns an allocator configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
	if cfg.Workers == 0 {
		cfg.Workers = max(s.Options.Workers, 1)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node ipam: %w", err)
	}
	set, err := newCIDRSet(netip.MustParsePrefix(cfg.ClusterCIDR), cfg.NodeCIDRMaskSize)
	if err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "node-ipam-controller")
	inf := s.Informers.Core().V1().Nodes()
	c := &Controller{
		cfg: cfg, client: s.Client, logger: logger,
		nodes: inf.Lister(), synced: inf.Informer().HasSynced,
		recorder: s.Recorder(Component),
		set:      set, held: map[string]holding{}, outside: map[string]string{}, starved: map[string]bool{},
	}
	c.worker = controller.NewWorker("node_ipam", logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.worker.AddObject,
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if len(podCIDRs(n)) == 0 || o.UID != n.UID || !slices.Equal(podCIDRs(o), podCIDRs(n)) ||
				(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
				c.worker.AddObject(cur)
			}
		},
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run allocates until ctx ends. The ranges the Nodes hold are marked used
// before any is handed out, so that a restart allocates nothing twice.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting", "clusterCIDR", c.cfg.ClusterCIDR, "nodeCIDRMaskSize", c.cfg.NodeCIDRMaskSize)
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	if err := c.rebuild(); err != nil {
		return err
	}
	c.worker.Run(ctx, c.cfg.Workers)
	return nil
}

// rebuild marks the ranges of every Node used.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes {
		if n.DeletionTimestamp == nil && len(podCIDRs(n)) > 0 {
			c.observe(n)
		}
	}
	return nil
}

// podCIDRs are a node's pod CIDRs (podCIDRs, else podCIDR).
func podCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

// sync gives a node without a pod CIDR one, marks the range of a node with
// one used, and releases the range of a node gone or going.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return nil
	}
	if err != nil {
		return err
	}
	if node.DeletionTimestamp != nil {
		c.forget(name)
		return nil
	}
	if len(podCIDRs(node)) > 0 {
		c.observe(node)
		return nil
	}
	return c.assign(ctx, node)
}

// observe records the range a node holds. A range outside the cluster
// CIDR is kept by the node and takes nothing from the cluster CIDR.
func (c *Controller) observe(node *corev1.Node) {
	cidrs := podCIDRs(node)
	var pick netip.Prefix
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() == c.set.cluster.Addr().Is4() {
			pick = p.Masked()
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, last, ok := c.set.span(pick)
	if !ok {
		c.releaseLocked(node.Name)
		if key := strings.Join(cidrs, ","); c.outside[node.Name] != key {
			c.outside[node.Name] = key
			c.logger.Info("node pod CIDR outside the cluster CIDR: kept, nothing allocated around it",
				"node", node.Name, "podCIDRs", cidrs, "clusterCIDR", c.cfg.ClusterCIDR)
		}
		return
	}
	delete(c.outside, node.Name)
	old, had := c.held[node.Name]
	if had && old.first == first && old.last == last {
		c.held[node.Name] = holding{prefix: pick, first: first, last: last}
		return
	}
	for i := first; i <= last; i++ {
		if c.set.refs[i] > 0 && !(had && i >= old.first && i <= old.last) {
			c.logger.Warn("node pod CIDR overlaps another node's", "node", node.Name, "podCIDR", pick)
			break
		}
	}
	c.set.hold(first, last)
	if had {
		c.set.release(old.first, old.last)
	}
	c.held[node.Name] = holding{prefix: pick, first: first, last: last}
}

// forget releases the range of a node that is gone or going.
func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(name)
	delete(c.outside, name)
	delete(c.starved, name)
}

// releaseLocked releases what a node holds; nodes waiting for a range are
// tried again when one frees up.
func (c *Controller) releaseLocked(name string) {
	h, ok := c.held[name]
	if !ok {
		return
	}
	delete(c.held, name)
	before := c.set.free()
	c.set.release(h.first, h.last)
	if c.set.free() > before {
		c.logger.Info("released node pod CIDR", "node", name, "podCIDR", h.prefix)
		for n := range c.starved {
			c.worker.Add(n)
		}
		clear(c.starved)
	}
}

// assign picks a range for a node without one and patches it into the
// Node, as Kubernetes' range allocator.
func (c *Controller) assign(ctx context.Context, node *corev1.Node) error {
	c.mu.Lock()
	h, had := c.held[node.Name]
	if !had || !h.pending {
		// A range seen on an earlier Node of that name is not reused.
		c.releaseLocked(node.Name)
		i, err := c.set.allocate()
		if err != nil {
			c.starved[node.Name] = true
			c.mu.Unlock()
			c.recordStatusChange(node, ReasonCIDRNotAvailable)
			return fmt.Errorf("allocate pod CIDR for node %s: %w", node.Name, err)
		}
		h = holding{prefix: c.set.block(i), first: i, last: i, pending: true}
		c.held[node.Name] = h
	}
	delete(c.starved, node.Name)
	c.mu.Unlock()

	err := c.patch(ctx, node.Name, h.prefix)
	switch {
	case err == nil:
		c.logger.Info("set node pod CIDR", "node", node.Name, "podCIDR", h.prefix)
		return nil
	case apierrors.IsNotFound(err):
		c.forget(node.Name)
		return nil
	case refused(err):
		// The API server refused it (say the node got a pod CIDR
		// meanwhile): the range is free again. Otherwise it stays taken,
		// since the patch may have been applied; the retry patches the
		// same range.
		c.mu.Lock()
		if cur, ok := c.held[node.Name]; ok && cur == h {
			c.releaseLocked(node.Name)
		}
		c.mu.Unlock()
		c.recordStatusChange(node, ReasonCIDRAssignmentFailed)
	}
	return fmt.Errorf("set pod CIDR %s on node %s: %w", h.prefix, node.Name, err)
}

// patch sets spec.podCIDR and spec.podCIDRs with a strategic merge patch,
// as Kubernetes does.
func (c *Controller) patch(ctx context.Context, name string, cidr netip.Prefix) error {
	type spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	}
	body, err := json.Marshal(struct {
		Spec spec `json:"spec"`
	}{spec{PodCIDR: cidr.String(), PodCIDRs: []string{cidr.String()}}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	return err
}

// refused reports whether the API server answered err with a client
// error: the request was not applied. Timeouts and throttling are not.
func refused(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	code := st.Status().Code
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// recordStatusChange records a node event as Kubernetes' node controllers
// do ("Node NAME status is now: REASON").
func (c *Controller) recordStatusChange(node *corev1.Node, reason string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: types.UID(node.Name)}
	c.recorder.Eventf(ref, corev1.EventTypeNormal, reason, "Node %s status is now: %s", node.Name, reason)
}
