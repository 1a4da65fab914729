package pod

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/probe"
)

// Config configures a pod manager.
type Config struct {
	// NodeName is the node whose pods the manager runs. Required.
	NodeName string
	// Client is a client of the API server (protobuf). Required.
	Client kubernetes.Interface
	// Runtime and Images are the CRI services of the container runtime.
	// Required.
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient
	// Volumes prepares pod volumes. Nil: pods get no volumes (a pod that
	// mounts one does not start).
	Volumes Volumes
	// Probes runs the containers' probes. Nil: containers have no probes
	// (started and ready once running).
	Probes Probes
	// Recorder records events (source component "kubelet", host the node
	// name). Nil: no events.
	Recorder record.EventRecorder
	// LogDir holds container logs:
	// <LogDir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log.
	// Required.
	LogDir string
	// PodDir holds the files the manager makes for pods (etc-hosts,
	// termination-log files): <PodDir>/<uid>/. Required.
	PodDir string
	// CgroupParent is the cgroupfs parent of the pod cgroups, e.g.
	// "/berth/<node>". Required.
	CgroupParent string
	// CgroupRoot is where the cgroup file systems are mounted. Default
	// /sys/fs/cgroup.
	CgroupRoot string
	// ClusterDNS and ClusterDomain configure dnsPolicy ClusterFirst; with
	// no ClusterDNS such pods use the host's resolver configuration, as the
	// kubelet does. ClusterDomain defaults to "cluster.local".
	ClusterDNS    []string
	ClusterDomain string
	// ResolvConf is the host's resolver configuration (dnsPolicy Default).
	// Default /etc/resolv.conf.
	ResolvConf string
	// Drain, if set, is called for a deleted pod before its containers get
	// their preStop hooks and SIGTERM: it returns once new traffic no longer
	// goes to the pod (the agent waits for the pod to leave its Services'
	// endpoints), or when ctx ends. The time it takes counts against the
	// grace period, as a preStop hook's does; it gets at most half of it.
	Drain func(ctx context.Context, pod *corev1.Pod)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// BackOff is the first crash back-off, doubled after each restart up
	// to MaxBackOff; the same applies to image pulls. Defaults 10s and 5m,
	// the kubelet's.
	BackOff, MaxBackOff time.Duration
	// RelistPeriod is how often the runtime is listed to notice container
	// changes (the kubelet's PLEG). Default 1s.
	RelistPeriod time.Duration
	// ResyncPeriod is how often a pod is synced with nothing happening
	// (refreshes configMap and secret volumes). Default 1m.
	ResyncPeriod time.Duration
	// ErrorResync is when a pod whose sync failed is synced again.
	// Default 10s, the kubelet's.
	ErrorResync time.Duration
	// ParallelSandboxes is how many pod sandboxes are made at once.
	// Default twice the number of CPUs (at least 4).
	ParallelSandboxes int
}

// Validate checks the required fields.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("NodeName is required"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if c.Runtime == nil || c.Images == nil {
		errs = append(errs, errors.New("Runtime and Images are required"))
	}
	if c.LogDir == "" || c.PodDir == "" {
		errs = append(errs, errors.New("LogDir and PodDir are required"))
	}
	if c.CgroupParent == "" {
		errs = append(errs, errors.New("CgroupParent is required"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.BackOff <= 0 {
		c.BackOff = 10 * time.Second
	}
	if c.MaxBackOff <= 0 {
		c.MaxBackOff = 5 * time.Minute
	}
	if c.RelistPeriod <= 0 {
		c.RelistPeriod = time.Second
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = time.Minute
	}
	if c.ErrorResync <= 0 {
		c.ErrorResync = 10 * time.Second
	}
	if c.ParallelSandboxes <= 0 {
		c.ParallelSandboxes = max(4, 2*runtime.NumCPU())
	}
}

// Volumes prepares the volumes of pods (implemented by agent/volume).
type Volumes interface {
	// Setup prepares the pod's volumes (idempotent, also refreshes
	// configMap/secret/projected contents) and returns the host path of
	// each volume by name.
	Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	// Teardown removes the pod's volumes.
	Teardown(ctx context.Context, podUID types.UID) error
}

// Probes runs the liveness, readiness and startup probes of containers
// (implemented by agent/probe).
type Probes interface {
	// Start (re)starts the probe workers of one container instance.
	Start(pod *corev1.Pod, podIP, container, containerID string, startedAt time.Time)
	// Stop stops the probe workers of a container.
	Stop(podUID types.UID, container string)
	// StopPod stops the probe workers of every container of a pod.
	StopPod(podUID types.UID)
	// Results delivers the results that changed, and liveness and
	// startup failures.
	Results() <-chan probe.Result
	// Ready is the last readiness result of the container (false until
	// the first success).
	Ready(podUID types.UID, container string) bool
	// Started reports whether the container's startup probe succeeded
	// (true if it has none).
	Started(podUID types.UID, container string) bool
}

var _ Probes = (*probe.Manager)(nil)
