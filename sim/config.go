package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Annotations a pod may carry to steer its simulated containers.
const (
	// AnnotationExitCode is the exit code of the containers of a pod whose
	// restart policy is Never or OnFailure ("0" by default). A non-zero code
	// makes a Never pod Failed; an OnFailure pod has its containers
	// restarted (restartCount grows) each time they exit, as a kubelet does.
	AnnotationExitCode = "sim.berth.dev/exit-code"
	// AnnotationDuration overrides Config.JobPodDuration for one pod (a Go
	// duration such as "30s").
	AnnotationDuration = "sim.berth.dev/duration"
)

// Defaults of Config.
const (
	DefaultNamePrefix           = "sim-"
	DefaultCPU                  = "4"
	DefaultMemory               = "16Gi"
	DefaultEphemeralStorage     = "100Gi"
	DefaultPods                 = 110
	DefaultHeartbeatInterval    = 10 * time.Second
	DefaultStatusReportInterval = 5 * time.Minute
	DefaultLeaseDuration        = 40 * time.Second
	DefaultJobPodDuration       = time.Second
	DefaultPodCIDR              = "10.42.0.0/16"
	// DefaultLargePodCIDR is the pod range used when Config.PodCIDR is unset
	// and there are more nodes than DefaultPodCIDR has /24 blocks for.
	DefaultLargePodCIDR  = "10.64.0.0/10"
	DefaultNodeCIDRMask  = 24
	DefaultNodeIPRange   = "172.20.0.0/16"
	DefaultWorkers       = 32
	DefaultNodeWorkers   = 8
	defaultKilledExit    = 137 // SIGKILL: how containers stopped by deletion exit
	defaultRetryInterval = time.Second
)

// Config describes the simulated nodes. Zero fields take the documented
// defaults (see Defaults).
type Config struct {
	// Client talks to the API server (protobuf, without client-side rate
	// limit, for scale). Required.
	Client kubernetes.Interface
	// Nodes is how many nodes to register at start (AddNodes adds more).
	Nodes int
	// NamePrefix starts every node name; node i is NamePrefix+i. Default
	// "sim-".
	NamePrefix string

	// CPU, Memory, EphemeralStorage and Pods are each node's capacity, also
	// reported as allocatable. Defaults 4, 16Gi, 100Gi and 110.
	CPU              resource.Quantity
	Memory           resource.Quantity
	EphemeralStorage resource.Quantity
	Pods             int

	// Labels are added to every node's labels, besides the kubelet's own
	// (kubernetes.io/hostname, kubernetes.io/os=linux,
	// kubernetes.io/arch=amd64 and their beta.kubernetes.io twins).
	Labels map[string]string
	// Zones, when positive, spreads the nodes over that many zones: node i
	// gets topology.kubernetes.io/zone=zone-<i mod Zones>.
	Zones int
	// Taints are registered on every new node, as kubelet's
	// --register-with-taints.
	Taints []corev1.Taint

	// HeartbeatInterval is how often each node renews its Lease and checks
	// its status, as kubelet's node lease renewal and
	// nodeStatusUpdateFrequency. Default 10s. Nodes are spread over it.
	HeartbeatInterval time.Duration
	// StatusReportInterval is how often a node posts its status when
	// nothing changed (kubelet's nodeStatusReportFrequency). Default 5m.
	StatusReportInterval time.Duration
	// LeaseDuration is written in the Leases. Default 40s.
	LeaseDuration time.Duration

	// PodStartDelay is how long a pod stays Pending (ContainerCreating)
	// before it runs. Default 0: a pod runs as soon as it is seen.
	PodStartDelay time.Duration
	// JobPodDuration is how long the containers of a pod whose restart
	// policy is Never or OnFailure run before they exit. Default 1s.
	JobPodDuration time.Duration

	// PodCIDR is the range fake pod IPs come from; each node gets a block
	// of it (spec.podCIDR). Default 10.42.0.0/16, or 10.64.0.0/10 when
	// Nodes exceeds what 10.42.0.0/16 holds. IPv4 only.
	PodCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's block. Default 24.
	NodeCIDRMaskSize int
	// NodeIPRange is where the nodes' fake InternalIPs come from: node i has
	// the (i+1)th address. Default 172.20.0.0/16.
	NodeIPRange string

	// Workers is how many pod updates run at once. Default 32.
	Workers int
	// NodeWorkers is how many node registrations and heartbeats run at
	// once. Default 8.
	NodeWorkers int

	// Logger receives the simulator's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults fills the unset fields of c.
func (c *Config) Defaults() {
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse(DefaultCPU)
	}
	if c.Memory.IsZero() {
		c.Memory = resource.MustParse(DefaultMemory)
	}
	if c.EphemeralStorage.IsZero() {
		c.EphemeralStorage = resource.MustParse(DefaultEphemeralStorage)
	}
	if c.Pods == 0 {
		c.Pods = DefaultPods
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.StatusReportInterval == 0 {
		c.StatusReportInterval = DefaultStatusReportInterval
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.JobPodDuration == 0 {
		c.JobPodDuration = DefaultJobPodDuration
	}
	if c.NodeCIDRMaskSize == 0 {
		c.NodeCIDRMaskSize = DefaultNodeCIDRMask
	}
	if c.PodCIDR == "" {
		c.PodCIDR = DefaultPodCIDR
		if p := netip.MustParsePrefix(DefaultPodCIDR); c.NodeCIDRMaskSize >= p.Bits() &&
			c.NodeCIDRMaskSize-p.Bits() < 31 && c.Nodes > 1<<(c.NodeCIDRMaskSize-p.Bits()) {
			c.PodCIDR = DefaultLargePodCIDR
		}
	}
	if c.NodeIPRange == "" {
		c.NodeIPRange = DefaultNodeIPRange
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.NodeWorkers == 0 {
		c.NodeWorkers = DefaultNodeWorkers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks a defaulted Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("a client is required"))
	}
	if c.Nodes < 0 {
		errs = append(errs, fmt.Errorf("nodes %d: must not be negative", c.Nodes))
	}
	for _, msg := range validation.IsDNS1123Subdomain(c.NamePrefix + "0") {
		errs = append(errs, fmt.Errorf("name prefix %q: %s", c.NamePrefix, msg))
	}
	for _, q := range []struct {
		name string
		q    resource.Quantity
	}{{"cpu", c.CPU}, {"memory", c.Memory}, {"ephemeral-storage", c.EphemeralStorage}} {
		if q.q.Sign() < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", q.name, q.q.String()))
		}
	}
	if c.Pods < 0 {
		errs = append(errs, fmt.Errorf("pods %d: must not be negative", c.Pods))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		v := c.Labels[k]
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("label %q: %s", k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("label %s=%q: %s", k, v, msg))
		}
	}
	if c.Zones < 0 {
		errs = append(errs, fmt.Errorf("zones %d: must not be negative", c.Zones))
	}
	for _, t := range c.Taints {
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, fmt.Errorf("taint %s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Effect))
		}
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, fmt.Errorf("taint %q: %s", t.Key, msg))
		}
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval}, {"status report interval", c.StatusReportInterval},
		{"lease duration", c.LeaseDuration}, {"job pod duration", c.JobPodDuration},
	} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", d.name, d.d))
		}
	}
	if c.LeaseDuration > 0 && c.LeaseDuration < time.Second {
		errs = append(errs, fmt.Errorf("lease duration %s: must be at least 1s", c.LeaseDuration))
	}
	if c.PodStartDelay < 0 {
		errs = append(errs, fmt.Errorf("pod start delay %s: must not be negative", c.PodStartDelay))
	}
	if _, err := newBlocks(c.PodCIDR, c.NodeCIDRMaskSize); err != nil {
		errs = append(errs, fmt.Errorf("pod CIDR: %w", err))
	} else if c.NodeCIDRMaskSize > 30 {
		errs = append(errs, fmt.Errorf("node CIDR mask size %d: must be at most 30", c.NodeCIDRMaskSize))
	}
	if _, err := newBlocks(c.NodeIPRange, 32); err != nil {
		errs = append(errs, fmt.Errorf("node IP range: %w", err))
	}
	if c.Workers < 1 || c.NodeWorkers < 1 {
		errs = append(errs, fmt.Errorf("workers %d, node workers %d: must be positive", c.Workers, c.NodeWorkers))
	}
	return errors.Join(errs...)
}
