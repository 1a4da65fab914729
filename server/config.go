package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"berth/controller/nodeipam"
)

// Config configures a control plane. Every field can come from a flag or
// from the YAML config file; the JSON names are the file's keys.
type Config struct {
	// DataDir holds all state: certificates, etcd's data, kubeconfigs.
	DataDir string `json:"dataDir"`
	// Port is the API server's HTTPS port; 0 picks a free one.
	Port int `json:"port"`
	// BindAddress is the address the API server listens on.
	BindAddress string `json:"bindAddress"`
	// AdvertiseAddress is the address clients and nodes reach the API at;
	// the admin kubeconfig uses 127.0.0.1.
	AdvertiseAddress string `json:"advertiseAddress"`
	// TLSSANs are extra names and addresses for the serving certificate.
	TLSSANs []string `json:"tlsSANs"`
	// EtcdEndpoints, if set, use an external etcd cluster instead of the
	// embedded one.
	EtcdEndpoints []string `json:"etcdEndpoints"`
	// EtcdCompactionInterval is how often old etcd revisions are dropped.
	EtcdCompactionInterval time.Duration `json:"etcdCompactionInterval"`
	// ServiceCIDR is the range ClusterIPs come from.
	ServiceCIDR string `json:"serviceCIDR"`
	// ServiceNodePortRange is the range NodePorts come from, "30000-32767".
	ServiceNodePortRange string `json:"serviceNodePortRange"`
	// ClusterCIDR is the pod network, which the node IPAM controller cuts
	// into the nodes' pod CIDRs (kube-controller-manager's --cluster-cidr).
	// Default 10.42.0.0/16. It must not overlap ServiceCIDR.
	ClusterCIDR string `json:"clusterCIDR"`
	// NodeCIDRMaskSize is the prefix length of each node's pod CIDR
	// (--node-cidr-mask-size): between ClusterCIDR's prefix length and 30
	// (126 for IPv6), at most 16 bits longer. Default 24 (64 for an IPv6
	// ClusterCIDR).
	NodeCIDRMaskSize int `json:"nodeCIDRMaskSize"`
	// ClusterDNS is the ClusterIP of the cluster DNS Service,
	// kube-system/kube-dns, created at start; the agents serve DNS behind
	// it and point pods at it. It must lie in ServiceCIDR. Default: the
	// 10th address of ServiceCIDR (10.43.0.10).
	ClusterDNS string `json:"clusterDNS"`
	// EventTTL is how long events are kept.
	EventTTL time.Duration `json:"eventTTL"`
	// WatchHistory is how many recent events each resource keeps so that
	// watches can resume.
	WatchHistory int `json:"watchHistory"`
	// BookmarkInterval is how often watches that allow it get a bookmark.
	BookmarkInterval time.Duration `json:"bookmarkInterval"`
	// Profiling serves Go profiles at /debug/pprof to authenticated users.
	Profiling bool `json:"profiling"`

	// Controllers lists the controllers to run, as kube-controller-manager's
	// --controllers: "*" for all, NAME to add one, -NAME to leave one out.
	// Empty means "*".
	Controllers []string `json:"controllers"`
	// DisableControllers runs no controllers (tests drive their own).
	DisableControllers bool `json:"disableControllers"`
	// DisableServiceAccountAdmission turns off the service account checks
	// of new pods (the account must exist; the token volume is added), as
	// Kubernetes' integration tests disable the ServiceAccount plugin:
	// without controllers no "default" service account is made.
	DisableServiceAccountAdmission bool `json:"-"`
	// DisableScheduler runs no scheduler.
	DisableScheduler bool `json:"disableScheduler"`
	// SchedulerScoring is "LeastAllocated" (spread, the default) or
	// "MostAllocated" (bin packing).
	SchedulerScoring string `json:"schedulerScoring"`
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before
	// it is NotReady. Default 40s.
	NodeMonitorGracePeriod time.Duration `json:"nodeMonitorGracePeriod"`
	// DefaultTolerationSeconds is how long pods tolerate a not-ready or
	// unreachable node before eviction, unless they say. Default 300.
	DefaultTolerationSeconds int64 `json:"defaultTolerationSeconds"`
	// LeaderElection timings (tests shorten them); zero means 15s/10s/2s.
	LeaseDuration time.Duration `json:"leaseDuration"`
	RenewDeadline time.Duration `json:"renewDeadline"`
	RetryPeriod   time.Duration `json:"retryPeriod"`

	Logger *slog.Logger `json:"-"`
}

// Defaults fills in unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/berth"
	}
	if c.BindAddress == "" {
		c.BindAddress = "0.0.0.0"
	}
	if c.EtcdCompactionInterval == 0 {
		c.EtcdCompactionInterval = 5 * time.Minute
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = "10.43.0.0/16"
	}
	if c.ServiceNodePortRange == "" {
		c.ServiceNodePortRange = "30000-32767"
	}
	ipam := nodeipam.Config{ClusterCIDR: c.ClusterCIDR, NodeCIDRMaskSize: c.NodeCIDRMaskSize}
	ipam.Defaults()
	c.ClusterCIDR, c.NodeCIDRMaskSize = ipam.ClusterCIDR, ipam.NodeCIDRMaskSize
	if c.ClusterDNS == "" {
		if ip, err := nthServiceIP(c.ServiceCIDR, 10); err == nil {
			c.ClusterDNS = ip.String()
		}
	}
	if c.EventTTL == 0 {
		c.EventTTL = time.Hour
	}
	if c.WatchHistory == 0 {
		c.WatchHistory = 2048
	}
	if c.BookmarkInterval == 0 {
		c.BookmarkInterval = time.Minute
	}
	if c.SchedulerScoring == "" {
		c.SchedulerScoring = "LeastAllocated"
	}
	if c.NodeMonitorGracePeriod == 0 {
		c.NodeMonitorGracePeriod = 40 * time.Second
	}
	if c.DefaultTolerationSeconds == 0 {
		c.DefaultTolerationSeconds = 300
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: must be between 0 and 65535", c.Port))
	}
	if net.ParseIP(c.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("bindAddress %q: not an IP address", c.BindAddress))
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		errs = append(errs, fmt.Errorf("advertiseAddress %q: not an IP address", c.AdvertiseAddress))
	}
	serviceCIDR, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil {
		errs = append(errs, fmt.Errorf("serviceCIDR: %w", err))
	}
	ipam := nodeipam.Config{ClusterCIDR: c.ClusterCIDR, NodeCIDRMaskSize: c.NodeCIDRMaskSize}
	if err := ipam.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("clusterCIDR %q, nodeCIDRMaskSize %d: %w", c.ClusterCIDR, c.NodeCIDRMaskSize, err))
	} else if cluster := netip.MustParsePrefix(c.ClusterCIDR); serviceCIDR.IsValid() && cluster.Overlaps(serviceCIDR) {
		errs = append(errs, fmt.Errorf("clusterCIDR %s overlaps serviceCIDR %s", cluster, serviceCIDR))
	}
	if serviceCIDR.IsValid() {
		if err := validateClusterDNS(c.ClusterDNS, serviceCIDR); err != nil {
			errs = append(errs, err)
		}
	}
	if _, _, err := c.NodePortRange(); err != nil {
		errs = append(errs, err)
	}
	switch c.SchedulerScoring {
	case "LeastAllocated", "MostAllocated":
	default:
		errs = append(errs, fmt.Errorf("schedulerScoring %q: want LeastAllocated or MostAllocated", c.SchedulerScoring))
	}
	if c.EtcdCompactionInterval < 0 {
		errs = append(errs, errors.New("etcdCompactionInterval: must not be negative"))
	}
	return errors.Join(errs...)
}

// validateClusterDNS checks that the DNS service IP is an address of the
// service CIDR other than its network address and the kubernetes
// service's.
func validateClusterDNS(dns string, serviceCIDR netip.Prefix) error {
	ip, err := netip.ParseAddr(dns)
	if err != nil {
		return fmt.Errorf("clusterDNS %q: not an IP address", dns)
	}
	serviceCIDR = serviceCIDR.Masked()
	first := serviceCIDR.Addr().Next()
	switch {
	case !serviceCIDR.Contains(ip):
		return fmt.Errorf("clusterDNS %s: not in serviceCIDR %s", ip, serviceCIDR)
	case ip == serviceCIDR.Addr():
		return fmt.Errorf("clusterDNS %s: the network address of serviceCIDR %s", ip, serviceCIDR)
	case ip == first:
		return fmt.Errorf("clusterDNS %s: the kubernetes service's address", ip)
	}
	return nil
}

// nthServiceIP is the n-th address of a service CIDR (1: the kubernetes
// service's).
func nthServiceIP(cidr string, n int) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, err
	}
	ip := p.Masked().Addr()
	for range n {
		ip = ip.Next()
	}
	if !p.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("service CIDR %s has no address number %d", p, n)
	}
	return ip, nil
}

// NodePortRange returns the first and last NodePort.
func (c *Config) NodePortRange() (int, int, error) {
	lo, hi, ok := strings.Cut(c.ServiceNodePortRange, "-")
	first, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return 0, 0, fmt.Errorf("serviceNodePortRange %q: want FIRST-LAST, e.g. 30000-32767", c.ServiceNodePortRange)
	}
	return first, last, nil
}
