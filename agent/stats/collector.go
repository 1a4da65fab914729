package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the pod manager puts on sandboxes and containers, as the kubelet
// does.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// minWindow is the shortest interval a CPU rate is computed over: shorter
// ones are mostly noise.
const minWindow = time.Second

// Runtime is the part of the CRI runtime service the collector uses;
// runtimeapi.RuntimeServiceClient implements it.
type Runtime interface {
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ListPodSandboxStats(ctx context.Context, in *runtimeapi.ListPodSandboxStatsRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxStatsResponse, error)
	ListContainerStats(ctx context.Context, in *runtimeapi.ListContainerStatsRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainerStatsResponse, error)
}

var _ Runtime = runtimeapi.RuntimeServiceClient(nil)

// Config configures a Collector.
type Config struct {
	// NodeName is reported as node.nodeName.
	NodeName string
	// Runtime is the container runtime. Required.
	Runtime Runtime
	// Interval is how often Run takes a sample, so that CPU rates are
	// ready when asked for. Default 10s (cAdvisor's housekeeping interval
	// in the kubelet is 10 to 15s).
	Interval time.Duration
	// FsDir is a directory on the node's main filesystem (the agent's data
	// directory), reported as node.fs. Default "/".
	FsDir string
	// HostRoot is where the host's /proc and /sys are. Default "/".
	HostRoot string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Runtime == nil {
		return errors.New("stats: a container runtime is required")
	}
	if c.Interval < 0 {
		return fmt.Errorf("stats: negative interval %v", c.Interval)
	}
	return nil
}

func (c *Config) defaults() {
	if c.Interval == 0 {
		c.Interval = 10 * time.Second
	}
	if c.FsDir == "" {
		c.FsDir = "/"
	}
	if c.HostRoot == "" {
		c.HostRoot = "/"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Collector gathers the stats of a node. It is safe for concurrent use.
type Collector struct {
	cfg  Config
	host host
	now  func() time.Time // time.Now; tests set it

	mu sync.Mutex
	// history holds the cumulative CPU usage of recent samples, oldest
	// first, keyed by "node", "pod/SANDBOX" or "ctr/CONTAINER".
	history []map[string]cpuPoint
}

// cpuPoint is a cumulative CPU usage at a time (ns since the epoch).
type cpuPoint struct {
	at    int64
	usage uint64
}

// New returns a Collector.
func New(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Collector{cfg: cfg, host: host{root: cfg.HostRoot}, now: time.Now}, nil
}

// Run takes a sample every Interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := c.Summary(ctx, true); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("stats sample failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Summary returns the node's stats now. CPU rates (usageNanoCores) are
// averages since an earlier sample at least a second old; they are absent
// until there is one. With onlyCPUAndMemory, network and filesystem stats
// are left out (the kubelet's only_cpu_and_memory, which metrics-server
// asks for).
func (c *Collector) Summary(ctx context.Context, onlyCPUAndMemory bool) (*Summary, error) {
	s := &Summary{Pods: []PodStats{}}
	smp := &sample{at: c.now(), points: map[string]cpuPoint{}}
	if err := c.node(&s.Node, smp, onlyCPUAndMemory); err != nil {
		return nil, err
	}
	pods, err := c.pods(ctx, smp, onlyCPUAndMemory)
	if err != nil {
		return nil, err
	}
	s.Pods = pods
	c.rates(smp)
	return s, nil
}

func (c *Collector) node(n *NodeStats, smp *sample, only bool) error {
	now := smp.at
	n.NodeName = c.cfg.NodeName
	if boot, err := c.host.bootTime(); err == nil {
		n.StartTime = metav1.NewTime(boot)
	}
	usage, err := c.host.nodeCPU()
	if err != nil {
		return fmt.Errorf("node cpu: %w", err)
	}
	n.CPU = smp.cpu("node", now, usage)
	m, err := c.host.nodeMemory()
	if err != nil {
		return fmt.Errorf("node memory: %w", err)
	}
	avail := uint64(0)
	if m.capacity > m.workingSet {
		avail = m.capacity - m.workingSet
	}
	n.Memory = &MemoryStats{Time: metaTime(now), AvailableBytes: &avail, UsageBytes: &m.usage,
		WorkingSetBytes: &m.workingSet, RSSBytes: &m.rss, PageFaults: &m.pageFaults, MajorPageFaults: &m.majorPageFaults}
	if !only {
		fs, err := fsStats(c.cfg.FsDir, now)
		if err != nil {
			return err
		}
		n.Fs = fs
	}
	return nil
}

// pods reports every ready sandbox and its running containers.
func (c *Collector) pods(ctx context.Context, smp *sample, only bool) ([]PodStats, error) {
	rt := c.cfg.Runtime
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		return nil, fmt.Errorf("list pod sandboxes: %w", err)
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	podStats, ctrStats, err := c.runtimeStats(ctx)
	if err != nil {
		return nil, err
	}
	bySandbox := map[string][]*runtimeapi.Container{}
	for _, ct := range ctrs.Containers {
		bySandbox[ct.PodSandboxId] = append(bySandbox[ct.PodSandboxId], ct)
	}
	out := []PodStats{}
	for _, sb := range sbs.Items {
		p := PodStats{PodRef: podRef(sb), StartTime: metav1.NewTime(time.Unix(0, sb.CreatedAt)), Containers: []ContainerStats{}}
		cs := bySandbox[sb.Id]
		sort.Slice(cs, func(i, j int) bool { return containerName(cs[i]) < containerName(cs[j]) })
		for _, ct := range cs {
			st := ctrStats[ct.Id]
			cst := ContainerStats{Name: containerName(ct), StartTime: metav1.NewTime(time.Unix(0, ct.CreatedAt))}
			if st != nil {
				cst.CPU = cpuStats(smp, "ctr/"+ct.Id, st.Cpu)
				cst.Memory = memoryStats(st.Memory)
				if !only {
					cst.Rootfs = rootfsStats(st.WritableLayer)
				}
			}
			p.Containers = append(p.Containers, cst)
		}
		if ps := podStats[sb.Id]; ps != nil && ps.Linux != nil {
			p.CPU = cpuStats(smp, "pod/"+sb.Id, ps.Linux.Cpu)
			p.Memory = memoryStats(ps.Linux.Memory)
			if ps.Linux.Process != nil && ps.Linux.Process.ProcessCount != nil {
				p.ProcessStats = &ProcessStats{ProcessCount: &ps.Linux.Process.ProcessCount.Value}
			}
			if !only {
				p.Network = networkStats(ps.Linux.Network)
			}
		} else {
			sumContainers(&p, smp, "pod/"+sb.Id)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].PodRef, out[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

// runtimeStats returns the runtime's stats per sandbox and per container.
// A runtime without ListPodSandboxStats gives container stats only.
func (c *Collector) runtimeStats(ctx context.Context) (map[string]*runtimeapi.PodSandboxStats, map[string]*runtimeapi.ContainerStats, error) {
	pods := map[string]*runtimeapi.PodSandboxStats{}
	ctrs := map[string]*runtimeapi.ContainerStats{}
	resp, err := c.cfg.Runtime.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err == nil {
		for _, ps := range resp.Stats {
			if ps.Attributes == nil {
				continue
			}
			pods[ps.Attributes.Id] = ps
			if ps.Linux != nil {
				for _, cs := range ps.Linux.Containers {
					if cs.Attributes != nil {
						ctrs[cs.Attributes.Id] = cs
					}
				}
			}
		}
		return pods, ctrs, nil
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	// Runtimes without it answer Unimplemented; containerd 1.6 fails the
	// whole call when one sandbox has no cgroup of its own. Pod figures are
	// then the sums of the containers'.
	if status.Code(err) != codes.Unimplemented {
		c.cfg.Logger.Debug("pod sandbox stats failed, using container stats", "err", err)
	}
	cresp, err := c.cfg.Runtime.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("container stats: %w", err)
	}
	for _, cs := range cresp.Stats {
		if cs.Attributes != nil {
			ctrs[cs.Attributes.Id] = cs
		}
	}
	return pods, ctrs, nil
}

// sumContainers fills in a pod's CPU and memory from its containers when
// the runtime has no pod-level stats.
func sumContainers(p *PodStats, smp *sample, key string) {
	var cpu, ws, usage, rss uint64
	var haveCPU, haveMem bool
	var cpuTime, memTime metav1.Time
	for _, c := range p.Containers {
		if c.CPU != nil && c.CPU.UsageCoreNanoSeconds != nil {
			cpu += *c.CPU.UsageCoreNanoSeconds
			haveCPU, cpuTime = true, later(cpuTime, c.CPU.Time)
		}
		if c.Memory != nil {
			ws += deref(c.Memory.WorkingSetBytes)
			usage += deref(c.Memory.UsageBytes)
			rss += deref(c.Memory.RSSBytes)
			haveMem, memTime = true, later(memTime, c.Memory.Time)
		}
	}
	if haveCPU {
		p.CPU = smp.cpu(key, cpuTime.Time, cpu)
	}
	if haveMem {
		p.Memory = &MemoryStats{Time: memTime, WorkingSetBytes: &ws, UsageBytes: &usage, RSSBytes: &rss}
	}
}

// rates sets usageNanoCores from an earlier sample at least minWindow
// older than this one, so that the node's and the pods' rates come
// together, and keeps this sample (at most one per minWindow; two are
// kept). Each rate is over its own figures' timestamps.
func (c *Collector) rates(smp *sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range smp.targets {
		cur := smp.points[t.key]
		for i := len(c.history) - 1; i >= 0; i-- {
			prev, ok := c.history[i][t.key]
			if !ok || smp.at.Sub(c.history[i]["@"].time()) < minWindow || cur.at <= prev.at {
				continue
			}
			if cur.usage >= prev.usage { // else the counter restarted
				v := uint64(float64(cur.usage-prev.usage) / float64(cur.at-prev.at) * float64(time.Second))
				t.st.UsageNanoCores = &v
			}
			break
		}
	}
	if n := len(c.history); n > 0 && smp.at.Sub(c.history[n-1]["@"].time()) < minWindow {
		return
	}
	smp.points["@"] = cpuPoint{at: smp.at.UnixNano()}
	c.history = append(c.history, smp.points)
	if len(c.history) > 2 {
		c.history = c.history[len(c.history)-2:]
	}
}

func (p cpuPoint) time() time.Time { return time.Unix(0, p.at) }

// sample is one collection in progress: the cumulative CPU figures seen
// and the stats whose rates they give.
type sample struct {
	at      time.Time
	points  map[string]cpuPoint
	targets []target
}

type target struct {
	key string
	st  *CPUStats
}

// cpu records a cumulative usage for key and returns its stats.
func (s *sample) cpu(key string, at time.Time, usage uint64) *CPUStats {
	st := &CPUStats{Time: metaTime(at), UsageCoreNanoSeconds: &usage}
	s.points[key] = cpuPoint{at: at.UnixNano(), usage: usage}
	s.targets = append(s.targets, target{key, st})
	return st
}
