package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Mode is how Routes reaches other nodes' pod CIDRs.
type Mode string

const (
	// ModeAuto routes host-gw to peers on a link of this host, VXLAN to
	// the others.
	ModeAuto Mode = "auto"
	// ModeHostGW routes every peer's pod CIDR through its node address;
	// peers not on a link of this host are unreachable.
	ModeHostGW Mode = "host-gw"
	// ModeVXLAN sends every peer's pod traffic through the VXLAN device.
	ModeVXLAN Mode = "vxlan"
)

// DefaultClusterCIDR is the cluster's pod network, cut into nodes' pod
// CIDRs.
const DefaultClusterCIDR = "10.42.0.0/16"

// RoutesConfig configures Routes.
type RoutesConfig struct {
	// NodeName is this node's Node. Required.
	NodeName string
	// Informers is where Routes registers its Nodes informer; the caller
	// starts it (after New). Required.
	Informers informers.SharedInformerFactory
	// Client patches this node's Node with its VXLAN device's MAC and
	// address (VXLANMACAnnotation, VXLANIPAnnotation). Required.
	Client kubernetes.Interface
	// NodeIP is this node's address, the VXLAN device's underlay address.
	// Default: the Node's InternalIP.
	NodeIP netip.Addr
	// ClusterCIDR is the whole pod network. Routes owns the routes inside
	// it that carry RouteProtocol. Default 10.42.0.0/16.
	ClusterCIDR netip.Prefix
	// Mode is ModeAuto (default), ModeHostGW or ModeVXLAN.
	Mode Mode
	// VXLANDevice is the VXLAN device's name (at most 15 characters).
	// Default "berth.1"; agents sharing a network namespace need distinct
	// ones (and distinct VNIs or ports if both use VXLAN).
	VXLANDevice string
	// VNI is the VXLAN network identifier. Default 1.
	VNI int
	// VXLANPort is the VXLAN UDP port. Default 8472 (Linux's and
	// flannel's).
	VXLANPort int
	// Resync is how often the kernel state is checked again without a
	// Node change. Default one minute.
	Resync time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults fills unset fields.
func (c *RoutesConfig) Defaults() {
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = netip.MustParsePrefix(DefaultClusterCIDR)
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if c.VXLANDevice == "" {
		c.VXLANDevice = "berth.1"
	}
	if c.VNI == 0 {
		c.VNI = 1
	}
	if c.VXLANPort == 0 {
		c.VXLANPort = 8472
	}
	if c.Resync == 0 {
		c.Resync = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *RoutesConfig) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("routes: no node name"))
	}
	if c.Informers == nil {
		errs = append(errs, errors.New("routes: no informer factory"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("routes: no client"))
	}
	if c.ClusterCIDR != c.ClusterCIDR.Masked() {
		errs = append(errs, fmt.Errorf("routes: cluster CIDR %s has host bits set", c.ClusterCIDR))
	}
	if c.NodeIP.IsValid() && c.NodeIP.Is4() != c.ClusterCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("routes: node IP %s is not of the cluster CIDR's family", c.NodeIP))
	}
	switch c.Mode {
	case ModeAuto, ModeHostGW, ModeVXLAN:
	default:
		errs = append(errs, fmt.Errorf("routes: mode %q: want %q, %q or %q", c.Mode, ModeAuto, ModeHostGW, ModeVXLAN))
	}
	if n := len(c.VXLANDevice); n > 15 {
		errs = append(errs, fmt.Errorf("routes: VXLAN device name %q is longer than 15 characters", c.VXLANDevice))
	}
	if c.VNI < 1 || c.VNI >= 1<<24 {
		errs = append(errs, fmt.Errorf("routes: VNI %d is not in 1..16777215", c.VNI))
	}
	if c.VXLANPort < 1 || c.VXLANPort > 65535 {
		errs = append(errs, fmt.Errorf("routes: VXLAN port %d is not in 1..65535", c.VXLANPort))
	}
	if c.Resync < 0 {
		errs = append(errs, fmt.Errorf("routes: negative resync period %v", c.Resync))
	}
	return errors.Join(errs...)
}

// Routes keeps the routes to other nodes' pod CIDRs: host-gw routes or
// the VXLAN device with its routes, neighbour and FDB entries, following
// the Nodes. What it added carries RouteProtocol (routes) or lives on its
// own VXLAN device, so that it finds and removes what a previous run left
// behind.
type Routes struct {
	cfg     RoutesConfig
	log     *slog.Logger
	nodes   corelisters.NodeLister
	synced  cache.InformerSynced
	kick    chan struct{}
	planner planner
	// open returns the dataplane of the calling thread's network
	// namespace; a field so that tests use a fake.
	open func() (dataplane, error)

	// Run's own state.
	skipped map[string]string
}

// NewRoutes checks cfg and registers the Nodes informer.
func NewRoutes(cfg RoutesConfig) (*Routes, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Routes{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "routes"),
		kick: make(chan struct{}, 1),
		planner: planner{
			self: cfg.NodeName, nodeIP: cfg.NodeIP, cluster: cfg.ClusterCIDR, mode: cfg.Mode,
		},
	}
	r.open = func() (dataplane, error) {
		k, err := openKernel(cfg.VXLANDevice, cfg.ClusterCIDR)
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	nodes := cfg.Informers.Core().V1().Nodes()
	r.nodes = nodes.Lister()
	informer := nodes.Informer()
	r.synced = informer.HasSynced
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { r.poke() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			c, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || relevantOf(o) != relevantOf(c) {
				r.poke()
			}
		},
		DeleteFunc: func(any) { r.poke() },
	}); err != nil {
		return nil, fmt.Errorf("routes: node handler: %w", err)
	}
	return r, nil
}

// poke asks Run to sync.
func (r *Routes) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Retry delays after a failed sync.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// Run enables IP forwarding and keeps the kernel state in line with the
// Nodes until ctx ends; it leaves the state in place (pods outlive the
// agent). Every kernel change happens on Run's goroutine, in the network
// namespace of its thread: to run it in another namespace, call it from a
// goroutine locked to a thread in that namespace.
func (r *Routes) Run(ctx context.Context) error {
	dp, err := r.open()
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	defer dp.close()
	if err := dp.enableForwarding(); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	if !cache.WaitForCacheSync(ctx.Done(), r.synced) {
		return nil
	}
	r.log.Info("routing pod CIDRs", "mode", r.cfg.Mode, "clusterCIDR", r.cfg.ClusterCIDR)
	resync := time.NewTicker(r.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	delay := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-resync.C:
		case <-retry.C:
		}
		if err := r.sync(ctx, dp); err != nil {
			delay = min(max(2*delay, minRetry), maxRetry)
			r.log.Error("syncing routes", "err", err, "retry", delay)
			retry.Reset(delay)
		} else {
			delay = 0
		}
	}
}

// sync brings the kernel to the plan for the current Nodes.
func (r *Routes) sync(ctx context.Context, dp dataplane) error {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	p := r.planner.plan(nodes, dp.reach)
	r.logSkipped(p.Skipped)

	var errs []error
	have, err := dp.routes()
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	want := map[route]bool{}
	for _, rt := range p.Routes {
		want[rt] = true
	}
	for _, rt := range have {
		if !want[rt] {
			if err := dp.delRoute(rt); err != nil {
				errs = append(errs, fmt.Errorf("delete route %s: %w", rt, err))
				continue
			}
			r.log.Info("route removed", "route", rt.String())
		}
	}

	var mac net.HardwareAddr
	if p.Device {
		mac = vtepMAC(r.cfg.NodeName)
		d := vxlanDevice{
			Name: r.cfg.VXLANDevice, VNI: r.cfg.VNI, Port: r.cfg.VXLANPort,
			Local: p.Local, MAC: mac, Addr: p.DeviceAddr,
		}
		if err := dp.ensureDevice(d); err != nil {
			return errors.Join(append(errs, fmt.Errorf("VXLAN device %s: %w", d.Name, err))...)
		}
		errs = append(errs, r.syncEntries(dp, p)...)
	} else if err := dp.removeDevice(r.cfg.VXLANDevice); err != nil {
		errs = append(errs, fmt.Errorf("remove VXLAN device %s: %w", r.cfg.VXLANDevice, err))
	}
	if err := r.publish(ctx, mac, p.Local); err != nil {
		errs = append(errs, err)
	}

	// Listed again: a VXLAN device made again took its routes along.
	if have, err = dp.routes(); err != nil {
		return errors.Join(append(errs, fmt.Errorf("list routes: %w", err))...)
	}
	current := map[route]bool{}
	for _, rt := range have {
		current[rt] = true
	}
	for _, rt := range p.Routes {
		if current[rt] {
			continue
		}
		if err := dp.addRoute(rt); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", rt, err))
			continue
		}
		r.log.Info("route added", "route", rt.String())
	}
	return errors.Join(errs...)
}

// syncEntries brings the VXLAN device's FDB and neighbour entries to p,
// before the routes that need them are added.
func (r *Routes) syncEntries(dp dataplane, p plan) []error {
	var errs []error
	fdb, err := dp.fdb()
	if err != nil {
		return []error{fmt.Errorf("list FDB entries: %w", err)}
	}
	haveFDB := map[fdbEntry]bool{}
	for _, e := range fdb {
		haveFDB[e] = true
	}
	wantFDB := map[fdbEntry]bool{}
	for _, e := range p.FDB {
		wantFDB[e] = true
		if !haveFDB[e] {
			if err := dp.setFDB(e); err != nil {
				errs = append(errs, fmt.Errorf("add FDB entry %s → %s: %w", e.MAC, e.Dst, err))
			}
		}
	}
	for _, e := range fdb {
		if !wantFDB[e] {
			if err := dp.delFDB(e); err != nil {
				errs = append(errs, fmt.Errorf("delete FDB entry %s → %s: %w", e.MAC, e.Dst, err))
			}
		}
	}

	neighs, err := dp.neighbours()
	if err != nil {
		return append(errs, fmt.Errorf("list neighbours: %w", err))
	}
	haveN := map[neighbour]bool{}
	for _, n := range neighs {
		haveN[n] = true
	}
	wantN := map[neighbour]bool{}
	for _, n := range p.Neighbours {
		wantN[n] = true
		if !haveN[n] {
			if err := dp.setNeighbour(n); err != nil {
				errs = append(errs, fmt.Errorf("add neighbour %s → %s: %w", n.IP, n.MAC, err))
			}
		}
	}
	for _, n := range neighs {
		if !wantN[n] {
			if err := dp.delNeighbour(n); err != nil {
				errs = append(errs, fmt.Errorf("delete neighbour %s → %s: %w", n.IP, n.MAC, err))
			}
		}
	}
	return errs
}

// publish sets this node's VXLAN annotations (mac nil: removes them).
func (r *Routes) publish(ctx context.Context, mac net.HardwareAddr, local netip.Addr) error {
	self, err := r.nodes.Get(r.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // not registered yet; its Add event syncs again
	}
	if err != nil {
		return fmt.Errorf("get own node: %w", err)
	}
	want := map[string]*string{VXLANMACAnnotation: nil, VXLANIPAnnotation: nil}
	if mac != nil {
		m, ip := mac.String(), local.String()
		want[VXLANMACAnnotation], want[VXLANIPAnnotation] = &m, &ip
	}
	patch := map[string]*string{}
	for k, v := range want {
		cur, ok := self.Annotations[k]
		if (v == nil && ok) || (v != nil && (!ok || cur != *v)) {
			patch[k] = v
		}
	}
	if len(patch) == 0 {
		return nil
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": patch}})
	if err != nil {
		return err
	}
	if _, err := r.cfg.Client.CoreV1().Nodes().Patch(ctx, r.cfg.NodeName, types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("publish VXLAN annotations on node %s: %w", r.cfg.NodeName, err)
	}
	r.log.Info("published VXLAN endpoint", "mac", mac, "ip", local)
	return nil
}

// logSkipped logs the nodes that get no route, when that changes.
func (r *Routes) logSkipped(skipped map[string]string) {
	if maps.Equal(skipped, r.skipped) {
		return
	}
	for node, why := range skipped {
		if r.skipped[node] != why {
			r.log.Info("no route to node's pods", "peer", node, "reason", why)
		}
	}
	r.skipped = skipped
}
