package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeService is the part of the CRI runtime service the node reads:
// the runtime's version for nodeInfo and its status for the Ready
// condition. runtimeapi.RuntimeServiceClient satisfies it.
type RuntimeService interface {
	Version(ctx context.Context, in *runtimeapi.VersionRequest, opts ...grpc.CallOption) (*runtimeapi.VersionResponse, error)
	Status(ctx context.Context, in *runtimeapi.StatusRequest, opts ...grpc.CallOption) (*runtimeapi.StatusResponse, error)
}

// ImageLister lists the images present on the node (status.images).
// runtimeapi.ImageServiceClient satisfies it.
type ImageLister interface {
	ListImages(ctx context.Context, in *runtimeapi.ListImagesRequest, opts ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error)
}

// HealthCheck is one more condition of the node's readiness, as the
// kubelet's PLEG health check: while Check returns an error the node is
// NotReady with the message "NAME is not healthy: ERR".
type HealthCheck struct {
	Name  string
	Check func() error
}

// Config configures a node's registration, heartbeats and status.
type Config struct {
	// Name is the Node's name (required), also its kubernetes.io/hostname
	// label.
	Name string
	// Client talks to the API server (required; protobuf preferred).
	Client kubernetes.Interface
	// Runtime is the CRI runtime service (required).
	Runtime RuntimeService
	// Images is the CRI image service (required).
	Images ImageLister
	// Addresses are the node's addresses (InternalIP, Hostname). Default:
	// DetectAddresses(Name).
	Addresses []corev1.NodeAddress
	// DaemonPort is the agent's HTTPS port, published in
	// status.daemonEndpoints.kubeletEndpoint. Default 10250.
	DaemonPort int32
	// PodCIDR, if set, is written to spec.podCIDR(s) of a Node that has
	// none (at registration, and on an existing Node). The Node's own
	// pod CIDR always wins.
	PodCIDR string
	// Labels are added to a Node this agent creates, over the default
	// labels (the kubelet's --node-labels). An existing Node keeps its
	// labels; only the default ones are reconciled.
	Labels map[string]string
	// Taints are set on a Node this agent creates (the kubelet's
	// --register-with-taints). An existing Node keeps its taints.
	Taints []corev1.Taint
	// Reserved is taken from capacity for allocatable (system-reserved
	// plus kube-reserved).
	Reserved corev1.ResourceList
	// EvictionHard are the hard eviction thresholds, in the kubelet's
	// --eviction-hard form ("memory.available": "100Mi", "nodefs.available":
	// "10%"). They set the pressure conditions, and the memory and nodefs
	// ones are also taken from allocatable. Entries override the kubelet's
	// defaults (memory.available<100Mi, nodefs.available<10%,
	// nodefs.inodesFree<5%); "0" or "0%" turns a signal off. Signals:
	// memory.available, nodefs.available, nodefs.inodesFree, pid.available
	// (no default, as the kubelet's); imagefs.* are accepted and ignored
	// (the images are on the nodefs here).
	EvictionHard map[string]string
	// PressureTransitionPeriod is how long a pressure condition stays True
	// after the last time the pressure was seen (the kubelet's
	// --eviction-pressure-transition-period). Default 5m.
	PressureTransitionPeriod time.Duration
	// MaxPods is the pods capacity. Default 110.
	MaxPods int
	// RootDir is a directory on the filesystem that holds the agent's data:
	// its size is the ephemeral-storage capacity and its free space the
	// DiskPressure signal. Default "/".
	RootDir string
	// CgroupRoot is where the cgroup filesystem is mounted; the node's
	// memory working set is read from its root memory cgroup, as the
	// kubelet's eviction manager does (cgroup v1), else from /proc/meminfo.
	// Default /sys/fs/cgroup.
	CgroupRoot string
	// LeaseDuration is the Lease's leaseDurationSeconds. Default 40s.
	LeaseDuration time.Duration
	// LeaseInterval is how often the Lease is renewed. Default a quarter
	// of LeaseDuration (10s).
	LeaseInterval time.Duration
	// StatusInterval is how often the status is computed and compared with
	// the Node's (the kubelet's nodeStatusUpdateFrequency). Default 10s.
	// While the node is not Ready it is computed every second, so that it
	// turns Ready quickly.
	StatusInterval time.Duration
	// StatusReportInterval is how often an unchanged status is posted
	// anyway (nodeStatusReportFrequency). Default 5m.
	StatusReportInterval time.Duration
	// Version is the kubeletVersion reported, e.g. "v1.33.0+berth-0.1.0".
	// Default "v1.33.0".
	Version string
	// HealthChecks are extra readiness checks (see HealthCheck).
	HealthChecks []HealthCheck
	// Recorder records the node's events. Default: a recorder of the
	// node's own (source component "kubelet", host Name) writing through
	// Client, stopped when Run returns.
	Recorder record.EventRecorder
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultDaemonPort               = 10250
	DefaultMaxPods                  = 110
	DefaultLeaseDuration            = 40 * time.Second
	DefaultStatusInterval           = 10 * time.Second
	DefaultStatusReportInterval     = 5 * time.Minute
	DefaultPressureTransitionPeriod = 5 * time.Minute
	DefaultVersion                  = "v1.33.0"
)

// defaults fills the zero fields but Addresses.
func (c *Config) defaults() {
	if c.DaemonPort == 0 {
		c.DaemonPort = DefaultDaemonPort
	}
	if c.MaxPods == 0 {
		c.MaxPods = DefaultMaxPods
	}
	if c.RootDir == "" {
		c.RootDir = "/"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.LeaseInterval == 0 {
		c.LeaseInterval = c.LeaseDuration / 4
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.StatusReportInterval == 0 {
		c.StatusReportInterval = DefaultStatusReportInterval
	}
	if c.PressureTransitionPeriod == 0 {
		c.PressureTransitionPeriod = DefaultPressureTransitionPeriod
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports what is missing or wrong in c once defaults are set.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	} else if msgs := validation.IsDNS1123Subdomain(c.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %q: %v", c.Name, msgs))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("client is required"))
	}
	if c.Runtime == nil {
		errs = append(errs, errors.New("runtime service is required"))
	}
	if c.Images == nil {
		errs = append(errs, errors.New("image service is required"))
	}
	if c.MaxPods < 0 {
		errs = append(errs, fmt.Errorf("maxPods %d is negative", c.MaxPods))
	}
	if c.DaemonPort < 0 || c.DaemonPort > 65535 {
		errs = append(errs, fmt.Errorf("daemon port %d out of range", c.DaemonPort))
	}
	for name, d := range map[string]time.Duration{
		"leaseDuration": c.LeaseDuration, "leaseInterval": c.LeaseInterval,
		"statusInterval": c.StatusInterval, "statusReportInterval": c.StatusReportInterval,
		"pressureTransitionPeriod": c.PressureTransitionPeriod,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", name, d))
		}
	}
	if c.LeaseDuration < time.Second {
		errs = append(errs, fmt.Errorf("leaseDuration %v is under a second", c.LeaseDuration))
	}
	if c.LeaseInterval >= c.LeaseDuration {
		errs = append(errs, fmt.Errorf("leaseInterval %v is not shorter than leaseDuration %v", c.LeaseInterval, c.LeaseDuration))
	}
	for _, h := range c.HealthChecks {
		if h.Name == "" || h.Check == nil {
			errs = append(errs, errors.New("a health check needs a name and a function"))
		}
	}
	if _, err := parseThresholds(c.EvictionHard); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
