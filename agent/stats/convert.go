package stats

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// metaTime is t as the Summary API's times (metav1.Time, whole seconds in
// JSON).
func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t) }

func podRef(sb *runtimeapi.PodSandbox) PodReference {
	r := PodReference{Name: sb.Labels[labelPodName], Namespace: sb.Labels[labelPodNamespace], UID: sb.Labels[labelPodUID]}
	if md := sb.Metadata; md != nil {
		if r.Name == "" {
			r.Name = md.Name
		}
		if r.Namespace == "" {
			r.Namespace = md.Namespace
		}
		if r.UID == "" {
			r.UID = md.Uid
		}
	}
	return r
}

func containerName(c *runtimeapi.Container) string {
	if n := c.Labels[labelContainerName]; n != "" {
		return n
	}
	if c.Metadata != nil {
		return c.Metadata.Name
	}
	return c.Id
}

// cpuStats converts CRI CPU usage; the rate is the collector's own.
func cpuStats(smp *sample, key string, u *runtimeapi.CpuUsage) *CPUStats {
	if u == nil || u.UsageCoreNanoSeconds == nil {
		return nil
	}
	return smp.cpu(key, time.Unix(0, u.Timestamp), u.UsageCoreNanoSeconds.Value)
}

func memoryStats(m *runtimeapi.MemoryUsage) *MemoryStats {
	if m == nil {
		return nil
	}
	st := &MemoryStats{Time: metaTime(time.Unix(0, m.Timestamp)), WorkingSetBytes: value(m.WorkingSetBytes),
		UsageBytes: value(m.UsageBytes), RSSBytes: value(m.RssBytes), PageFaults: value(m.PageFaults),
		MajorPageFaults: value(m.MajorPageFaults)}
	// The runtime reports 0 available bytes when there is no limit.
	if m.AvailableBytes != nil && m.AvailableBytes.Value > 0 {
		st.AvailableBytes = value(m.AvailableBytes)
	}
	return st
}

func rootfsStats(fs *runtimeapi.FilesystemUsage) *FsStats {
	if fs == nil {
		return nil
	}
	at := time.Now()
	if fs.Timestamp != 0 {
		at = time.Unix(0, fs.Timestamp)
	}
	return &FsStats{Time: metaTime(at), UsedBytes: value(fs.UsedBytes), InodesUsed: value(fs.InodesUsed)}
}

func networkStats(n *runtimeapi.NetworkUsage) *NetworkStats {
	if n == nil || n.DefaultInterface == nil {
		return nil
	}
	at := time.Now()
	if n.Timestamp != 0 {
		at = time.Unix(0, n.Timestamp)
	}
	st := &NetworkStats{Time: metaTime(at), InterfaceStats: interfaceStats(n.DefaultInterface)}
	for _, i := range n.Interfaces {
		st.Interfaces = append(st.Interfaces, interfaceStats(i))
	}
	if len(st.Interfaces) == 0 {
		st.Interfaces = []InterfaceStats{st.InterfaceStats}
	}
	return st
}

func interfaceStats(i *runtimeapi.NetworkInterfaceUsage) InterfaceStats {
	return InterfaceStats{Name: i.Name, RxBytes: value(i.RxBytes), RxErrors: value(i.RxErrors),
		TxBytes: value(i.TxBytes), TxErrors: value(i.TxErrors)}
}

func value(v *runtimeapi.UInt64Value) *uint64 {
	if v == nil {
		return nil
	}
	x := v.Value
	return &x
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func later(a, b metav1.Time) metav1.Time {
	if b.After(a.Time) {
		return b
	}
	return a
}
