package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// host reads the node's own figures from the root cgroup (cgroup v1, as
// cAdvisor does for the kubelet's node stats) or, failing that, from /proc.
type host struct {
	// root is "/" on a real node; tests use a directory of fake files.
	root string
}

func (h host) path(p ...string) string { return filepath.Join(append([]string{h.root}, p...)...) }

// nodeCPU returns the cumulative CPU time of everything on the node.
func (h host) nodeCPU() (uint64, error) {
	for _, dir := range []string{"cpuacct", "cpu,cpuacct"} {
		if v, err := readUint(h.path("sys/fs/cgroup", dir, "cpuacct.usage")); err == nil {
			return v, nil
		}
	}
	// /proc/stat counts in USER_HZ (100 per second on Linux).
	line, err := firstLine(h.path("proc/stat"), "cpu ")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(line)
	var busy uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc/stat: %w", err)
		}
		busy += n
	}
	return busy * uint64(time.Second/100), nil
}

// hostMemory is the node's memory in bytes.
type hostMemory struct {
	capacity, usage, workingSet, rss, pageFaults, majorPageFaults uint64
}

// nodeMemory returns the node's memory use. The working set is the usage
// minus inactive file pages (they can be reclaimed at once), as the kubelet
// computes it; available is capacity minus the working set.
func (h host) nodeMemory() (hostMemory, error) {
	info, err := keyValues(h.path("proc/meminfo"), 1024)
	if err != nil {
		return hostMemory{}, err
	}
	m := hostMemory{capacity: info["MemTotal:"]}
	var inactiveFile uint64
	if usage, err := readUint(h.path("sys/fs/cgroup/memory/memory.usage_in_bytes")); err == nil {
		st, err := keyValues(h.path("sys/fs/cgroup/memory/memory.stat"), 1)
		if err != nil {
			return hostMemory{}, err
		}
		m.usage, inactiveFile, m.rss = usage, st["total_inactive_file"], st["total_rss"]
		m.pageFaults, m.majorPageFaults = st["total_pgfault"], st["total_pgmajfault"]
	} else {
		m.usage = info["MemTotal:"] - info["MemFree:"]
		inactiveFile, m.rss = info["Inactive(file):"], info["AnonPages:"]
		if vm, err := keyValues(h.path("proc/vmstat"), 1); err == nil {
			m.pageFaults, m.majorPageFaults = vm["pgfault"], vm["pgmajfault"]
		}
	}
	m.workingSet = m.usage
	if inactiveFile < m.workingSet {
		m.workingSet -= inactiveFile
	} else {
		m.workingSet = 0
	}
	return m, nil
}

// bootTime is when the node started.
func (h host) bootTime() (time.Time, error) {
	line, err := firstLine(h.path("proc/stat"), "btime ")
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "btime ")), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("proc/stat btime: %w", err)
	}
	return time.Unix(sec, 0), nil
}

// fsStats reports the filesystem holding dir.
func fsStats(dir string, now time.Time) (*FsStats, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	capacity, avail := st.Blocks*bs, st.Bavail*bs
	used := (st.Blocks - st.Bfree) * bs
	inodes, free := st.Files, st.Ffree
	inodesUsed := inodes - free
	return &FsStats{Time: metaTime(now), CapacityBytes: &capacity, AvailableBytes: &avail, UsedBytes: &used,
		Inodes: &inodes, InodesFree: &free, InodesUsed: &inodesUsed}, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// keyValues reads "key value [unit]" lines, multiplying values by scale.
func keyValues(path string, scale uint64) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if v, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
			out[fields[0]] = v * scale
		}
	}
	return out, sc.Err()
}

func firstLine(path, prefix string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text(), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no line starting with %q", path, prefix)
}
