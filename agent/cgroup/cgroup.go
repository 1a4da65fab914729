package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Config says where pod cgroups go.
type Config struct {
	// Root is where the cgroup file systems are mounted. Default
	// /sys/fs/cgroup.
	Root string
	// Parent is the cgroup, as a path from the root of each hierarchy,
	// under which pod cgroups are made, e.g. "/berth/node1". Required.
	Parent string
}

// Resources are the limits of a pod cgroup.
type Resources struct {
	// CPUShares is the relative CPU weight (cpu.shares on v1, converted to
	// cpu.weight on v2); 0 leaves the kernel's default.
	CPUShares uint64
	// CPUQuota is the CFS bandwidth quota per CPUPeriod, in microseconds;
	// 0 or less means no limit.
	CPUQuota int64
	// CPUPeriod is the CFS period in microseconds; 0 leaves the default
	// (100000).
	CPUPeriod uint64
	// Memory is the memory limit in bytes; 0 means no limit.
	Memory int64
}

// v1Controllers are the v1 hierarchies in which Ensure makes the pod
// cgroup (runc makes the others, such as cpuset, itself when it places the
// sandbox below it).
var v1Controllers = []string{"cpu", "cpuacct", "memory", "pids"}

// Manager makes, sets and removes pod cgroups below its parent.
type Manager struct {
	root, parent string
	v2           bool
}

// New returns a manager for the pod cgroups below cfg.Parent.
func New(cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		cfg.Root = "/sys/fs/cgroup"
	}
	if cfg.Parent == "" || !path.IsAbs(cfg.Parent) || path.Clean(cfg.Parent) == "/" {
		return nil, fmt.Errorf("cgroup parent %q must be an absolute path below the root", cfg.Parent)
	}
	if _, err := os.Stat(cfg.Root); err != nil {
		return nil, fmt.Errorf("cgroup root: %w", err)
	}
	_, err := os.Stat(filepath.Join(cfg.Root, "cgroup.controllers"))
	return &Manager{root: cfg.Root, parent: path.Clean(cfg.Parent), v2: err == nil}, nil
}

// Unified reports whether the host uses the unified (v2) hierarchy.
func (m *Manager) Unified() bool { return m.v2 }

// Name is the pod's cgroup as CRI takes it in
// LinuxPodSandboxConfig.CgroupParent: "<parent>/pod<uid>".
func (m *Manager) Name(uid types.UID) string {
	return path.Join(m.parent, "pod"+string(uid))
}

// Dir is the directory of the pod's cgroup in the hierarchy of controller
// (for example "memory" or "cpu"; ignored on v2).
func (m *Manager) Dir(controller string, uid types.UID) string {
	if m.v2 {
		return filepath.Join(m.root, m.Name(uid))
	}
	return filepath.Join(m.root, controller, m.Name(uid))
}

// Ensure makes the pod's cgroup if needed and sets its limits.
func (m *Manager) Ensure(uid types.UID, r Resources) error {
	if m.v2 {
		return m.ensureV2(uid, r)
	}
	for _, c := range v1Controllers {
		if _, err := os.Stat(filepath.Join(m.root, c)); err != nil {
			continue // controller not mounted
		}
		if err := os.MkdirAll(m.Dir(c, uid), 0o755); err != nil {
			return fmt.Errorf("pod cgroup: %w", err)
		}
	}
	var errs []error
	if r.CPUShares > 0 {
		errs = append(errs, write(m.Dir("cpu", uid), "cpu.shares", strconv.FormatUint(r.CPUShares, 10)))
	}
	period := r.CPUPeriod
	if period == 0 {
		period = 100000
	}
	errs = append(errs, write(m.Dir("cpu", uid), "cpu.cfs_period_us", strconv.FormatUint(period, 10)))
	quota := int64(-1)
	if r.CPUQuota > 0 {
		quota = r.CPUQuota
	}
	errs = append(errs, write(m.Dir("cpu", uid), "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)))
	mem := int64(-1)
	if r.Memory > 0 {
		mem = r.Memory
	}
	errs = append(errs, write(m.Dir("memory", uid), "memory.limit_in_bytes", strconv.FormatInt(mem, 10)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("set limits of pod cgroup %s: %w", m.Name(uid), err)
	}
	return nil
}

func (m *Manager) ensureV2(uid types.UID, r Resources) error {
	// Controllers must be enabled in every ancestor for the pod cgroup to
	// have their files.
	dir := m.root
	for _, part := range strings.Split(strings.Trim(m.parent, "/"), "/") {
		enableControllers(dir)
		dir = filepath.Join(dir, part)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("pod cgroup: %w", err)
		}
	}
	enableControllers(dir)
	pod := m.Dir("", uid)
	if err := os.MkdirAll(pod, 0o755); err != nil {
		return fmt.Errorf("pod cgroup: %w", err)
	}
	var errs []error
	if r.CPUShares > 0 {
		errs = append(errs, write(pod, "cpu.weight", strconv.FormatUint(SharesToWeight(r.CPUShares), 10)))
	}
	period := r.CPUPeriod
	if period == 0 {
		period = 100000
	}
	quota := "max"
	if r.CPUQuota > 0 {
		quota = strconv.FormatInt(r.CPUQuota, 10)
	}
	errs = append(errs, write(pod, "cpu.max", quota+" "+strconv.FormatUint(period, 10)))
	mem := "max"
	if r.Memory > 0 {
		mem = strconv.FormatInt(r.Memory, 10)
	}
	errs = append(errs, write(pod, "memory.max", mem))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("set limits of pod cgroup %s: %w", m.Name(uid), err)
	}
	return nil
}

// enableControllers turns on the cpu, memory and pids controllers for the
// children of dir, as far as the kernel lets it.
func enableControllers(dir string) {
	for _, c := range []string{"cpu", "memory", "pids"} {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
	}
}

// SharesToWeight converts cgroup v1 cpu.shares to cgroup v2 cpu.weight,
// as runc and the kubelet do.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

func write(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
}

// Remove kills whatever still runs in the pod's cgroup and removes it
// from every hierarchy. A cgroup that does not exist is not an error.
func (m *Manager) Remove(uid types.UID) error {
	var errs []error
	for _, dir := range m.dirs(m.Name(uid)) {
		if err := removeTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove pod cgroup %s: %w", m.Name(uid), err)
	}
	return nil
}

// RemoveParent removes the (empty) parent cgroup and its empty ancestors
// from every hierarchy: the last step of an orderly shutdown.
func (m *Manager) RemoveParent() {
	for p := m.parent; p != "/" && p != "."; p = path.Dir(p) {
		for _, dir := range m.dirs(p) {
			_ = os.Remove(dir)
		}
	}
}

// Pods lists the UIDs of the pod cgroups below the parent.
func (m *Manager) Pods() ([]types.UID, error) {
	dir := filepath.Join(m.root, "memory", m.parent)
	if m.v2 {
		dir = filepath.Join(m.root, m.parent)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod cgroups: %w", err)
	}
	var out []types.UID
	for _, e := range entries {
		if uid, ok := strings.CutPrefix(e.Name(), "pod"); ok && e.IsDir() {
			out = append(out, types.UID(uid))
		}
	}
	return out, nil
}

// dirs returns the directories of the cgroup name in every hierarchy
// where it exists.
func (m *Manager) dirs(name string) []string {
	if m.v2 {
		dir := filepath.Join(m.root, name)
		if _, err := os.Stat(dir); err != nil {
			return nil
		}
		return []string{dir}
	}
	entries, err := os.ReadDir(m.root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		dir := filepath.Join(m.root, e.Name(), name)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			out = append(out, dir)
		}
	}
	return out
}

// removeTree kills the processes of the cgroup dir and of its children,
// then removes the children and dir, retrying for a while as the kernel
// takes time to release a cgroup whose processes just died.
func removeTree(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = write(dir, "cgroup.kill", "1") // v2 (5.14+): kills the whole subtree
		var subdirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				subdirs = append(subdirs, p)
				killProcs(p)
			}
			return nil
		})
		var err error
		for i := len(subdirs) - 1; i >= 0; i-- { // children first
			if e := os.Remove(subdirs[i]); e != nil && !errors.Is(e, os.ErrNotExist) {
				err = e
			}
		}
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killProcs sends SIGKILL to every process of the cgroup dir.
func killProcs(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
