package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// host reads the machine: /proc, /sys and /etc under root (empty in
// production; a test's directory in tests), the cgroup filesystem, and
// filesystem sizes through statfs.
type host struct {
	root       string
	cgroupRoot string
	statfs     func(dir string) (fsSample, error)
}

func newHost(cgroupRoot string) *host {
	return &host{cgroupRoot: cgroupRoot, statfs: statfs}
}

// machineInfo is what does not change while the machine runs (hugepages
// aside): the capacity and the nodeInfo read from the host.
type machineInfo struct {
	cpus      int
	memory    int64 // bytes (MemTotal)
	swap      int64 // bytes (SwapTotal)
	hugepages map[corev1.ResourceName]int64
	machineID, systemUUID, bootID,
	kernelVersion, osImage string
}

// memorySample is the node's memory as the kubelet's eviction manager
// sees it: available = capacity - working set.
type memorySample struct{ capacity, available int64 }

// fsSample is a filesystem's size and free space.
type fsSample struct{ capacity, available, inodes, inodesFree int64 }

// pidSample is the process ID space: its size and the tasks running.
type pidSample struct{ max, running int64 }

// sample is one observation of the host; parts that could not be read
// are nil.
type sample struct {
	machine machineInfo
	memory  *memorySample
	fs      *fsSample
	pids    *pidSample
}

func (h *host) path(p string) string { return filepath.Join(h.root, p) }

func (h *host) readString(p string) (string, error) {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// observe reads the host, the filesystem of rootDir included. Parts that
// cannot be read are left out, with the first error returned for logging.
func (h *host) observe(rootDir string) (*sample, error) {
	var errs []error
	m, err := h.machine()
	if err != nil {
		errs = append(errs, err)
	}
	s := &sample{machine: m}
	if m.memory > 0 {
		ws, err := h.memoryWorkingSet()
		if err != nil {
			errs = append(errs, err)
		} else {
			s.memory = &memorySample{capacity: m.memory, available: max(m.memory-ws, 0)}
		}
	}
	if fs, err := h.statfs(rootDir); err != nil {
		errs = append(errs, fmt.Errorf("statfs %s: %w", rootDir, err))
	} else {
		s.fs = &fs
	}
	if p, err := h.pids(); err != nil {
		errs = append(errs, err)
	} else {
		s.pids = &p
	}
	return s, errors.Join(errs...)
}

// machine reads the capacity and the system info. Missing identity files
// leave their fields empty, as cAdvisor does; missing memory is an error.
func (h *host) machine() (machineInfo, error) {
	m := machineInfo{cpus: h.cpus(), hugepages: h.hugepages()}
	mem, err := h.meminfo()
	if err != nil {
		return m, err
	}
	m.memory, m.swap = mem["MemTotal"], mem["SwapTotal"]
	if m.memory == 0 {
		return m, errors.New("/proc/meminfo has no MemTotal")
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if id, err := h.readString(p); err == nil && id != "" {
			m.machineID = id
			break
		}
	}
	m.systemUUID, _ = h.readString("/sys/class/dmi/id/product_uuid")
	m.bootID, _ = h.readString("/proc/sys/kernel/random/boot_id")
	m.kernelVersion, _ = h.readString("/proc/sys/kernel/osrelease")
	m.osImage = h.osImage()
	return m, nil
}

// cpus counts the online logical CPUs.
func (h *host) cpus() int {
	s, err := h.readString("/sys/devices/system/cpu/online")
	if err == nil {
		if n, err := countCPUList(s); err == nil && n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// countCPUList counts the CPUs of a kernel CPU list such as "0-3,6,8-9".
func countCPUList(s string) (int, error) {
	n := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

// meminfo reads /proc/meminfo in bytes.
func (h *host) meminfo() (map[string]int64, error) {
	b, err := os.ReadFile(h.path("/proc/meminfo"))
	if err != nil {
		return nil, fmt.Errorf("read meminfo: %w", err)
	}
	return parseMeminfo(b), nil
}

// parseMeminfo reads lines such as "MemTotal:  24684096 kB" into bytes.
func parseMeminfo(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			v *= 1024
		}
		out[key] = v
	}
	return out
}

// hugepages reads the pre-allocated huge pages of each size the kernel
// supports, as resource names (hugepages-2Mi) and bytes.
func (h *host) hugepages() map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	dirs, err := os.ReadDir(h.path("/sys/kernel/mm/hugepages"))
	if err != nil {
		return out
	}
	for _, d := range dirs {
		kb, ok := strings.CutPrefix(d.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		size, err := strconv.ParseInt(kb, 10, 64)
		if !ok || err != nil || size <= 0 {
			continue
		}
		nr, err := h.readString("/sys/kernel/mm/hugepages/" + d.Name() + "/nr_hugepages")
		if err != nil {
			continue
		}
		count, err := strconv.ParseInt(nr, 10, 64)
		if err != nil {
			continue
		}
		name := corev1.ResourceName(corev1.ResourceHugePagesPrefix + resource.NewQuantity(size*1024, resource.BinarySI).String())
		out[name] = count * size * 1024
	}
	return out
}

// osImage is PRETTY_NAME of os-release, or "Linux" as cAdvisor says
// without one.
func (h *host) osImage() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(h.path(p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME=")
			if !ok {
				continue
			}
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = strings.Trim(v, `"'`)
			}
			if v != "" {
				return v
			}
		}
	}
	return "Linux"
}

// memoryWorkingSet is the node's memory in use less the inactive file
// cache: from the root memory cgroup (v1) as the kubelet does, else from
// /proc/meminfo (MemTotal - MemFree - Inactive(file)).
func (h *host) memoryWorkingSet() (int64, error) {
	dir := filepath.Join(h.cgroupRoot, "memory")
	if usage, err := os.ReadFile(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
		u, err := strconv.ParseInt(strings.TrimSpace(string(usage)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memory.usage_in_bytes: %w", err)
		}
		stat, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
		if err != nil {
			return 0, fmt.Errorf("read memory.stat: %w", err)
		}
		inactive := statValue(stat, "total_inactive_file")
		return max(u-inactive, 0), nil
	}
	mem, err := h.meminfo()
	if err != nil {
		return 0, err
	}
	return max(mem["MemTotal"]-mem["MemFree"]-mem["Inactive(file)"], 0), nil
}

// statValue reads "key value" lines (memory.stat).
func statValue(b []byte, key string) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// pids reads the size of the process ID space (pid_max, bounded by
// threads-max) and the tasks in use (/proc/loadavg), as the kubelet does.
func (h *host) pids() (pidSample, error) {
	s, err := h.readString("/proc/sys/kernel/pid_max")
	if err != nil {
		return pidSample{}, fmt.Errorf("read pid_max: %w", err)
	}
	maxPID, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return pidSample{}, fmt.Errorf("pid_max %q: %w", s, err)
	}
	if t, err := h.readString("/proc/sys/kernel/threads-max"); err == nil {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil && n > 0 {
			maxPID = min(maxPID, n)
		}
	}
	load, err := h.readString("/proc/loadavg")
	if err != nil {
		return pidSample{}, fmt.Errorf("read loadavg: %w", err)
	}
	f := strings.Fields(load)
	if len(f) < 4 {
		return pidSample{}, fmt.Errorf("loadavg %q: too few fields", load)
	}
	_, total, ok := strings.Cut(f[3], "/")
	running, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil {
		return pidSample{}, fmt.Errorf("loadavg %q: no task count", load)
	}
	return pidSample{max: maxPID, running: running}, nil
}

// statfs measures the filesystem holding dir.
func statfs(dir string) (fsSample, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fsSample{}, err
	}
	bs := int64(st.Bsize)
	return fsSample{
		capacity:   int64(st.Blocks) * bs,
		available:  int64(st.Bavail) * bs,
		inodes:     int64(st.Files),
		inodesFree: int64(st.Ffree),
	}, nil
}
