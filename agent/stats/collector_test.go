package stats

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime answers the CRI list calls from fixed data.
type fakeRuntime struct {
	sandboxes    []*runtimeapi.PodSandbox
	containers   []*runtimeapi.Container
	podStats     []*runtimeapi.PodSandboxStats
	noPodStats   bool // ListPodSandboxStats is Unimplemented
	containerCPU map[string]uint64
	at           time.Time
}

func (f *fakeRuntime) ListPodSandbox(_ context.Context, in *runtimeapi.ListPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error) {
	var out []*runtimeapi.PodSandbox
	for _, s := range f.sandboxes {
		if in.Filter == nil || in.Filter.State == nil || in.Filter.State.State == s.State {
			out = append(out, s)
		}
	}
	return &runtimeapi.ListPodSandboxResponse{Items: out}, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, in *runtimeapi.ListContainersRequest, _ ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	var out []*runtimeapi.Container
	for _, c := range f.containers {
		if in.Filter == nil || in.Filter.State == nil || in.Filter.State.State == c.State {
			out = append(out, c)
		}
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func (f *fakeRuntime) ListPodSandboxStats(context.Context, *runtimeapi.ListPodSandboxStatsRequest, ...grpc.CallOption) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	if f.noPodStats {
		return nil, status.Error(codes.Unimplemented, "not implemented")
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: f.podStats}, nil
}

func (f *fakeRuntime) ListContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest, ...grpc.CallOption) (*runtimeapi.ListContainerStatsResponse, error) {
	var out []*runtimeapi.ContainerStats
	for _, c := range f.containers {
		out = append(out, f.containerStats(c.Id))
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

func (f *fakeRuntime) containerStats(id string) *runtimeapi.ContainerStats {
	ts := f.at.UnixNano()
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: id},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: f.containerCPU[id]}},
		Memory: &runtimeapi.MemoryUsage{Timestamp: ts, WorkingSetBytes: &runtimeapi.UInt64Value{Value: 100},
			UsageBytes: &runtimeapi.UInt64Value{Value: 150}, RssBytes: &runtimeapi.UInt64Value{Value: 50},
			AvailableBytes: &runtimeapi.UInt64Value{Value: 0}},
		WritableLayer: &runtimeapi.FilesystemUsage{UsedBytes: &runtimeapi.UInt64Value{Value: 4096}},
	}
}

// hostTree writes fake /proc and /sys/fs/cgroup files.
func hostTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const meminfo = "MemTotal:        4000 kB\nMemFree:         1000 kB\nInactive(file):   500 kB\nAnonPages:        700 kB\n"
const procStat = "cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 100 0 50 1000 10 0 0 0 0 0\nbtime 1700000000\n"

func TestNodeStats(t *testing.T) {
	tests := []struct {
		name                   string
		files                  map[string]string
		cpu, ws, usage, avail  uint64
		rss, faults, majFaults uint64
	}{{
		name: "cgroup v1 root",
		files: map[string]string{
			"proc/meminfo": meminfo, "proc/stat": procStat,
			"sys/fs/cgroup/cpuacct/cpuacct.usage":        "123456789\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes": "3000000\n",
			"sys/fs/cgroup/memory/memory.stat":           "cache 5\ntotal_inactive_file 1000000\ntotal_rss 800000\ntotal_pgfault 7\ntotal_pgmajfault 2\n",
		},
		cpu: 123456789, usage: 3000000, ws: 2000000, avail: 4096000 - 2000000, rss: 800000, faults: 7, majFaults: 2,
	}, {
		name:  "proc only",
		files: map[string]string{"proc/meminfo": meminfo, "proc/stat": procStat, "proc/vmstat": "pgfault 9\npgmajfault 3\n"},
		// user+system = 150 ticks of 10ms.
		cpu: 1500 * uint64(time.Millisecond), usage: 3000 * 1024, ws: 2500 * 1024, avail: 1500 * 1024, rss: 700 * 1024, faults: 9, majFaults: 3,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{NodeName: "n1", Runtime: &fakeRuntime{}, HostRoot: hostTree(t, tc.files), FsDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Summary(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			n := s.Node
			if n.NodeName != "n1" || !n.StartTime.Time.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("node %q started %v", n.NodeName, n.StartTime)
			}
			if got := *n.CPU.UsageCoreNanoSeconds; got != tc.cpu {
				t.Errorf("cpu %d, want %d", got, tc.cpu)
			}
			if n.CPU.UsageNanoCores != nil {
				t.Errorf("a first sample has a rate: %d", *n.CPU.UsageNanoCores)
			}
			m := n.Memory
			if *m.UsageBytes != tc.usage || *m.WorkingSetBytes != tc.ws || *m.AvailableBytes != tc.avail || *m.RSSBytes != tc.rss ||
				*m.PageFaults != tc.faults || *m.MajorPageFaults != tc.majFaults {
				t.Errorf("memory usage %d ws %d avail %d rss %d faults %d/%d, want %d %d %d %d %d/%d", *m.UsageBytes, *m.WorkingSetBytes,
					*m.AvailableBytes, *m.RSSBytes, *m.PageFaults, *m.MajorPageFaults, tc.usage, tc.ws, tc.avail, tc.rss, tc.faults, tc.majFaults)
			}
			if n.Fs == nil || *n.Fs.CapacityBytes == 0 {
				t.Errorf("node fs %+v", n.Fs)
			}
			if len(s.Pods) != 0 {
				t.Errorf("pods %+v", s.Pods)
			}
		})
	}
}

func podFixture(noPodStats bool, at time.Time) *fakeRuntime {
	labels := func(ns, name, uid string) map[string]string {
		return map[string]string{labelPodNamespace: ns, labelPodName: name, labelPodUID: uid}
	}
	f := &fakeRuntime{
		at:         at,
		noPodStats: noPodStats,
		sandboxes: []*runtimeapi.PodSandbox{
			{Id: "sb-web", State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: at.Add(-time.Hour).UnixNano(), Labels: labels("default", "web", "u-web")},
			{Id: "sb-db", State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: at.Add(-time.Hour).UnixNano(), Labels: labels("apps", "db", "u-db")},
			{Id: "sb-old", State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, Labels: labels("default", "old", "u-old")},
		},
		containers: []*runtimeapi.Container{
			{Id: "c-web-b", PodSandboxId: "sb-web", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{labelContainerName: "sidecar"}},
			{Id: "c-web-a", PodSandboxId: "sb-web", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: map[string]string{labelContainerName: "app"}},
			{Id: "c-web-dead", PodSandboxId: "sb-web", State: runtimeapi.ContainerState_CONTAINER_EXITED, Labels: map[string]string{labelContainerName: "app"}},
			{Id: "c-db", PodSandboxId: "sb-db", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Metadata: &runtimeapi.ContainerMetadata{Name: "db"}},
		},
		containerCPU: map[string]uint64{"c-web-a": 1e9, "c-web-b": 2e9, "c-db": 5e9},
	}
	f.refreshPodStats()
	return f
}

// refreshPodStats derives the pod-level stats from the container figures.
func (f *fakeRuntime) refreshPodStats() {
	f.podStats = nil
	for _, sb := range []string{"sb-web", "sb-db"} {
		ps := &runtimeapi.PodSandboxStats{Attributes: &runtimeapi.PodSandboxAttributes{Id: sb}, Linux: &runtimeapi.LinuxPodSandboxStats{
			Memory:  &runtimeapi.MemoryUsage{Timestamp: f.at.UnixNano(), WorkingSetBytes: &runtimeapi.UInt64Value{Value: 1000}},
			Network: &runtimeapi.NetworkUsage{DefaultInterface: &runtimeapi.NetworkInterfaceUsage{Name: "eth0", RxBytes: &runtimeapi.UInt64Value{Value: 10}}},
			Process: &runtimeapi.ProcessUsage{ProcessCount: &runtimeapi.UInt64Value{Value: 3}},
		}}
		var cpu uint64 = 1e8 // the pause container
		for _, c := range f.containers {
			if c.PodSandboxId == sb && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				ps.Linux.Containers = append(ps.Linux.Containers, f.containerStats(c.Id))
				cpu += f.containerCPU[c.Id]
			}
		}
		ps.Linux.Cpu = &runtimeapi.CpuUsage{Timestamp: f.at.UnixNano(), UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpu}}
		f.podStats = append(f.podStats, ps)
	}
}

func TestPodStats(t *testing.T) {
	at := time.Unix(1800000000, 0)
	for _, noPodStats := range []bool{false, true} {
		t.Run(map[bool]string{false: "pod sandbox stats", true: "container stats only"}[noPodStats], func(t *testing.T) {
			f := podFixture(noPodStats, at)
			c, err := New(Config{Runtime: f, HostRoot: hostTree(t, map[string]string{"proc/meminfo": meminfo, "proc/stat": procStat})})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Summary(context.Background(), true)
			if err != nil {
				t.Fatal(err)
			}
			if s.Node.Fs != nil {
				t.Error("only cpu and memory, but node fs reported")
			}
			if len(s.Pods) != 2 || s.Pods[0].PodRef != (PodReference{Name: "db", Namespace: "apps", UID: "u-db"}) ||
				s.Pods[1].PodRef != (PodReference{Name: "web", Namespace: "default", UID: "u-web"}) {
				t.Fatalf("pods %+v", s.Pods)
			}
			web := s.Pods[1]
			if len(web.Containers) != 2 || web.Containers[0].Name != "app" || web.Containers[1].Name != "sidecar" {
				t.Fatalf("web containers %+v", web.Containers)
			}
			if s.Pods[0].Containers[0].Name != "db" {
				t.Errorf("container name from metadata: %+v", s.Pods[0].Containers[0])
			}
			app := web.Containers[0]
			if *app.CPU.UsageCoreNanoSeconds != 1e9 || *app.Memory.WorkingSetBytes != 100 || *app.Memory.RSSBytes != 50 || app.Memory.AvailableBytes != nil {
				t.Errorf("app cpu %d memory %+v", *app.CPU.UsageCoreNanoSeconds, app.Memory)
			}
			if app.Rootfs != nil {
				t.Error("only cpu and memory, but rootfs reported")
			}
			wantCPU, wantWS := uint64(3.1e9), uint64(1000)
			if noPodStats {
				wantCPU, wantWS = 3e9, 200 // sums of the containers
			}
			if *web.CPU.UsageCoreNanoSeconds != wantCPU || *web.Memory.WorkingSetBytes != wantWS {
				t.Errorf("web cpu %d ws %d, want %d %d", *web.CPU.UsageCoreNanoSeconds, *web.Memory.WorkingSetBytes, wantCPU, wantWS)
			}
			if !web.StartTime.Time.Equal(at.Add(-time.Hour)) {
				t.Errorf("web started %v", web.StartTime)
			}
			if s2, err := c.Summary(context.Background(), false); err != nil || (!noPodStats && s2.Pods[1].Network == nil) || s2.Pods[1].Containers[0].Rootfs == nil {
				t.Errorf("full summary: %v %+v", err, s2.Pods[1])
			}
		})
	}
}

// CPU rates need two samples at least a second apart; a counter that went
// back (a restarted container) gives no rate.
func TestCPURates(t *testing.T) {
	at := time.Unix(1800000000, 0)
	c, f := rateFixture(t, at)
	now := at
	c.now = func() time.Time { return now }
	sum := func(step time.Duration, cpu map[string]uint64) *Summary {
		t.Helper()
		now = now.Add(step)
		f.at = now
		for id, v := range cpu {
			f.containerCPU[id] = v
		}
		f.refreshPodStats()
		s, err := c.Summary(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rate := func(st *CPUStats) int64 {
		if st.UsageNanoCores == nil {
			return -1
		}
		return int64(*st.UsageNanoCores)
	}
	s := sum(0, nil)
	if rate(s.Pods[1].CPU) != -1 || rate(s.Pods[1].Containers[0].CPU) != -1 {
		t.Fatal("rate after one sample")
	}
	// Half a second later: too short a window, no rate yet.
	s = sum(500*time.Millisecond, map[string]uint64{"c-web-a": 1.5e9})
	if rate(s.Pods[1].Containers[0].CPU) != -1 {
		t.Fatalf("rate over half a second: %d", rate(s.Pods[1].Containers[0].CPU))
	}
	// Two seconds after the first: app used 1.5 s more (750m), the
	// sidecar none, the pod 1.5 s.
	s = sum(1500*time.Millisecond, map[string]uint64{"c-web-a": 2.5e9})
	if got := rate(s.Pods[1].Containers[0].CPU); got != 750e6 {
		t.Errorf("app rate %d, want 750000000", got)
	}
	if got := rate(s.Pods[1].Containers[1].CPU); got != 0 {
		t.Errorf("idle sidecar rate %d, want 0", got)
	}
	if got := rate(s.Pods[1].CPU); got != 750e6 {
		t.Errorf("pod rate %d, want 750000000", got)
	}
	// The app restarted: its counter went back.
	s = sum(2*time.Second, map[string]uint64{"c-web-a": 1e6})
	if got := rate(s.Pods[1].Containers[0].CPU); got != -1 {
		t.Errorf("rate across a counter reset: %d", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no runtime accepted")
	}
	if _, err := New(Config{Runtime: &fakeRuntime{}, Interval: -time.Second}); err == nil {
		t.Error("negative interval accepted")
	}
}

// The runtime's figures carry its own timestamps; when it answers late,
// they can be a window apart while the samples are not. Rates wait for a
// window between samples, so that the node's and the pods' come together.
func TestCPURatesComeTogether(t *testing.T) {
	at := time.Unix(1800000000, 0)
	c, f := rateFixture(t, at)
	sample := func(now, runtimeAt time.Time) *Summary {
		t.Helper()
		c.now = func() time.Time { return now }
		f.at = runtimeAt
		f.refreshPodStats()
		s, err := c.Summary(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sample(at, at)
	s := sample(at.Add(900*time.Millisecond), at.Add(1100*time.Millisecond))
	if s.Node.CPU.UsageNanoCores != nil || s.Pods[1].CPU.UsageNanoCores != nil {
		t.Errorf("rates over a 0.9 s sample window: node %v, pod %v", s.Node.CPU.UsageNanoCores, s.Pods[1].CPU.UsageNanoCores)
	}
	s = sample(at.Add(1200*time.Millisecond), at.Add(1300*time.Millisecond))
	if s.Node.CPU.UsageNanoCores == nil || s.Pods[1].CPU.UsageNanoCores == nil {
		t.Errorf("rates over a 1.2 s window: node %v, pod %v", s.Node.CPU.UsageNanoCores, s.Pods[1].CPU.UsageNanoCores)
	}
}

// rateFixture is a collector on the pod fixture at a fixed time and a fake
// host.
func rateFixture(t *testing.T, at time.Time) (*Collector, *fakeRuntime) {
	t.Helper()
	f := podFixture(false, at)
	c, err := New(Config{Runtime: f, HostRoot: hostTree(t, map[string]string{"proc/meminfo": meminfo, "proc/stat": procStat})})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}
