package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/informers"
	"sigs.k8s.io/knftables"
)

// DefaultTable is the nftables table the proxy owns unless told otherwise.
const DefaultTable = "berth"

// Config configures a Proxier.
type Config struct {
	// NodeName is this node's name: endpoints whose nodeName matches are
	// local (internalTrafficPolicy / externalTrafficPolicy Local). Required.
	NodeName string
	// NodeIPs are the node's addresses. NodePorts are served on the IPv4
	// ones (never on 127.0.0.1, as the nftables kube-proxy); the first IPv4
	// one is also what the LoadBalancerSourceRanges check treats as "this
	// node". At least one IPv4 address is required.
	NodeIPs []netip.Addr
	// ClusterCIDR is the pod network (e.g. 10.42.0.0/16). Traffic to a
	// ClusterIP from outside it is masqueraded, and pod traffic to a
	// Local-policy external address is short-circuited to all endpoints.
	// Required, IPv4.
	ClusterCIDR netip.Prefix
	// Zone is the node's topology.kubernetes.io/zone label. With it,
	// EndpointSlice zone hints are honoured as kube-proxy does; empty
	// means hints are ignored.
	Zone string
	// Informers is the factory the Services and discovery/v1
	// EndpointSlices informers come from. New registers them; the caller
	// starts the factory. Required.
	Informers informers.SharedInformerFactory
	// Table is the nftables table (family ip) holding everything the
	// proxy creates. Default "berth"; agents sharing a network namespace
	// need distinct ones.
	Table string
	// NFT talks to nftables. Default knftables.New(knftables.IPv4Family,
	// Table), which execs nft in the caller's network namespace.
	NFT knftables.Interface
	// Conntrack lists and deletes conntrack flows (stale UDP flows are
	// deleted when endpoints go away). Default: a netlink handle opened
	// by New in the caller's network namespace. *netlink.Handle
	// satisfies it.
	Conntrack Conntrack
	// MinSyncPeriod is the shortest time between two syncs: an isolated
	// change is written at once, a burst of changes is batched. Default
	// 10ms.
	MinSyncPeriod time.Duration
	// SyncPeriod is how often the proxy checks that its table is still
	// what it wrote, rebuilding it if not. It is also the longest retry
	// interval after a failed sync. Default 30s.
	SyncPeriod time.Duration
	// OnSync, if set, is called after every sync (from the sync
	// goroutine; keep it short). Tests and benchmarks use it.
	OnSync func(SyncResult)
	// HealthCheckListen opens the listener of a Service's
	// healthCheckNodePort (externalTrafficPolicy Local). Default: TCP on
	// every address of the node, as kube-proxy.
	HealthCheckListen func(port int) (net.Listener, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Conntrack is the part of netlink the proxy uses to clear stale UDP
// flows.
type Conntrack interface {
	ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error)
}

var _ Conntrack = (*netlink.Handle)(nil)

// Defaults fills unset fields that need no system access.
func (c *Config) Defaults() {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.MinSyncPeriod == 0 {
		c.MinSyncPeriod = 10 * time.Millisecond
	}
	if c.SyncPeriod == 0 {
		c.SyncPeriod = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("proxy: no node name"))
	}
	v4 := 0
	for _, ip := range c.NodeIPs {
		if !ip.IsValid() {
			errs = append(errs, errors.New("proxy: invalid node IP"))
		} else if ip.Unmap().Is4() {
			v4++
		}
	}
	if v4 == 0 {
		errs = append(errs, errors.New("proxy: no IPv4 node IP"))
	}
	if !c.ClusterCIDR.IsValid() || !c.ClusterCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("proxy: cluster CIDR %q: want an IPv4 prefix", c.ClusterCIDR))
	}
	if c.Informers == nil {
		errs = append(errs, errors.New("proxy: no informer factory"))
	}
	if c.Table == "" || len(c.Table) > knftables.NameLengthMax {
		errs = append(errs, fmt.Errorf("proxy: bad table name %q", c.Table))
	}
	if c.MinSyncPeriod < 0 || c.SyncPeriod <= 0 {
		errs = append(errs, errors.New("proxy: sync periods must be positive"))
	}
	return errors.Join(errs...)
}
