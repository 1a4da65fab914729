package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"berth/join"
)

// Config configures a node agent.
type Config struct {
	// NodeName is the Node's name. Required.
	NodeName string
	// DataDir holds the agent's state: its containerd, CNI config, pod
	// directories and logs. Keep it short: containerd's unix sockets live
	// below it. Default /var/lib/berth/agent.
	DataDir string
	// Credentials are the node's identity (from join.Join): its
	// kubeconfig, the cluster CA, and the serving key pair of the HTTPS
	// endpoint. Required.
	Credentials *join.Credentials
	// ContainerRuntimeEndpoint, if set, is an existing CRI socket
	// ("unix:///run/containerd/containerd.sock") to use instead of a
	// containerd of the agent's own. That runtime keeps its own CNI and
	// registry configuration.
	ContainerRuntimeEndpoint string
	// PodCIDR is the node's pod network. Empty (the default): the one the
	// control plane gives the Node in spec.podCIDR. Must lie inside
	// ClusterCIDR.
	PodCIDR string
	// ClusterCIDR is the pod network of the whole cluster: traffic from
	// pods to addresses outside it is masqueraded, and the routes to other
	// nodes' pods are in it. Default 10.42.0.0/16.
	ClusterCIDR string
	// NetworkMode is how pods reach pods of other nodes: "auto" (the
	// default: direct routes to nodes on the same link, VXLAN to the
	// others), "host-gw" or "vxlan".
	NetworkMode string
	// VXLANDevice is the VXLAN device's name (at most 15 characters).
	// Default "berth.1" with the default bridge, else derived from Bridge.
	VXLANDevice string
	// IngressHTTPPort and IngressHTTPSPort are where the built-in ingress
	// controller listens on every address of the node; 0 turns one off
	// (the `berth agent` flags default to 80 and 443).
	IngressHTTPPort, IngressHTTPSPort int
	// Bridge is the pod network's bridge device. Default "berth0"; agents
	// sharing a host need distinct ones.
	Bridge string
	// Address is where the HTTPS endpoint listens, default ":10250"
	// (port 0: any free port).
	Address string
	// NodeIP is the node's InternalIP. Default: the address of the
	// default route's interface.
	NodeIP net.IP
	// Labels and Taints are set on a Node this agent creates.
	Labels map[string]string
	Taints []corev1.Taint
	// Reserved is taken from capacity for allocatable.
	Reserved corev1.ResourceList
	// ClusterDNS and ClusterDomain configure pods of dnsPolicy
	// ClusterFirst.
	ClusterDNS    []string
	ClusterDomain string
	// StopPodsOnExit stops every pod (and the agent's containerd) when the
	// agent stops, as `berth up` does on Ctrl-C. Otherwise pods and
	// containerd keep running for the next agent to adopt, as containers
	// outlive a kubelet restart.
	StopPodsOnExit bool
	// ImagesReady, if set, holds back the pods until it is closed (`berth
	// up`: until the built-in images are in the cluster registry).
	ImagesReady <-chan struct{}
	// Version is the kubeletVersion the Node reports, e.g.
	// "v1.33.0+berth-0.1.0".
	Version string
	// CgroupRoot is where the cgroup file systems are mounted. Default
	// /sys/fs/cgroup.
	CgroupRoot string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DefaultDataDir is where the agent keeps its state unless told.
const DefaultDataDir = "/var/lib/berth/agent"

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if c.NetworkMode == "" {
		c.NetworkMode = "auto"
	}
	if c.Bridge == "" {
		c.Bridge = "berth0"
	}
	if c.Address == "" {
		c.Address = ":10250"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("agent: no node name"))
	} else if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("agent: node name %q: %s", c.NodeName, strings.Join(msgs, "; ")))
	}
	if c.Credentials == nil || c.Credentials.Rest == nil {
		errs = append(errs, errors.New("agent: no node credentials"))
	}
	if !filepath.IsAbs(c.DataDir) {
		errs = append(errs, fmt.Errorf("agent: data dir %q must be an absolute path", c.DataDir))
	}
	cluster, err := netip.ParsePrefix(c.ClusterCIDR)
	if err != nil || !cluster.Addr().Is4() {
		errs = append(errs, fmt.Errorf("agent: cluster CIDR %q: want an IPv4 CIDR such as 10.42.0.0/16", c.ClusterCIDR))
	}
	if c.PodCIDR != "" {
		pods, err := netip.ParsePrefix(c.PodCIDR)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("agent: pod CIDR: %w", err))
		case cluster.IsValid() && (!cluster.Contains(pods.Addr()) || pods.Bits() < cluster.Bits()):
			errs = append(errs, fmt.Errorf("agent: pod CIDR %s is not inside the cluster CIDR %s", c.PodCIDR, c.ClusterCIDR))
		}
	}
	switch c.NetworkMode {
	case "auto", "host-gw", "vxlan":
	default:
		errs = append(errs, fmt.Errorf("agent: network mode %q: want auto, host-gw or vxlan", c.NetworkMode))
	}
	if len(c.VXLANDevice) > 15 {
		errs = append(errs, fmt.Errorf("agent: VXLAN device name %q is longer than 15 characters", c.VXLANDevice))
	}
	for _, p := range []int{c.IngressHTTPPort, c.IngressHTTPSPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("agent: ingress port %d out of range", p))
		}
	}
	if c.ContainerRuntimeEndpoint != "" && !strings.HasPrefix(c.ContainerRuntimeEndpoint, "unix://") {
		errs = append(errs, fmt.Errorf("agent: container runtime endpoint %q: want unix:///PATH", c.ContainerRuntimeEndpoint))
	}
	return errors.Join(errs...)
}

// vxlanDevice is the VXLAN device's name: distinct for agents with
// distinct bridges on one host.
func (c *Config) vxlanDevice() string {
	switch {
	case c.VXLANDevice != "":
		return c.VXLANDevice
	case c.Bridge == "berth0":
		return "berth.1"
	}
	name := c.Bridge
	if len(name) > 12 {
		name = name[len(name)-12:]
	}
	return name + ".vx"
}

// proxyTable is the service proxy's nftables table: distinct for agents
// with distinct bridges on one host.
func (c *Config) proxyTable() string {
	if c.Bridge == "berth0" {
		return "berth"
	}
	return "berth-" + c.Bridge
}

// Paths below DataDir.
func (c *Config) containerdDir() string { return filepath.Join(c.DataDir, "containerd") }
func (c *Config) cniDir() string        { return filepath.Join(c.DataDir, "cni") }
func (c *Config) ipamDir() string       { return filepath.Join(c.DataDir, "ipam") }
func (c *Config) podsDir() string       { return filepath.Join(c.DataDir, "pods") }
func (c *Config) logDir() string        { return filepath.Join(c.DataDir, "logs") }
