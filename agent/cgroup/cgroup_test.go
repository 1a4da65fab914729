package cgroup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Limits land in the v1 files of the pod's cgroup (a fake root: plain
// files stand for the kernel's).
func TestEnsureWritesV1Files(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
		if err := os.Mkdir(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{Root: root, Parent: "/berth/n1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		res  Resources
		want map[string]string
	}{
		{"guaranteed", Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, Memory: 64 << 20}, map[string]string{
			"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
			"memory/memory.limit_in_bytes": "67108864",
		}},
		{"best effort", Resources{CPUShares: 2}, map[string]string{
			"cpu/cpu.shares": "2", "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000",
			"memory/memory.limit_in_bytes": "-1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := types.UID("u-" + strings.ReplaceAll(tt.name, " ", "-"))
			if err := m.Ensure(uid, tt.res); err != nil {
				t.Fatal(err)
			}
			for file, want := range tt.want {
				ctrl, name, _ := strings.Cut(file, "/")
				got, err := os.ReadFile(filepath.Join(m.Dir(ctrl, uid), name))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", file, got, err, want)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "pids", "berth", "n1", "pod"+string(uid))); err != nil {
				t.Errorf("pids cgroup not made: %v", err)
			}
		})
	}
	pods, err := m.Pods()
	if err != nil || len(pods) != 2 {
		t.Fatalf("Pods() = %v, %v; want the two pods", pods, err)
	}
	if got := m.Name("abc"); got != "/berth/n1/podabc" {
		t.Errorf("Name = %q", got)
	}
}

// On v2 the same limits become cpu.weight, cpu.max and memory.max.
func TestEnsureWritesV2Files(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Root: root, Parent: "/berth/n1"})
	if err != nil || !m.Unified() {
		t.Fatalf("New: %v, unified %v", err, m != nil && m.Unified())
	}
	if err := m.Ensure("u", Resources{CPUShares: 1024, CPUQuota: 20000, Memory: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"cpu.weight": "39", "cpu.max": "20000 100000", "memory.max": "1073741824"} {
		got, err := os.ReadFile(filepath.Join(root, "berth", "n1", "podu", file))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", file, got, err, want)
		}
	}
	got, _ := os.ReadFile(filepath.Join(root, "berth", "cgroup.subtree_control"))
	if !strings.HasPrefix(string(got), "+") {
		t.Errorf("controllers not enabled in the parent: %q", got)
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 2: 1, 1024: 39, 262144: 10000, 1 << 30: 10000} {
		if got := SharesToWeight(shares); got != want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestNewRejectsBadParent(t *testing.T) {
	for _, p := range []string{"", "relative", "/"} {
		if _, err := New(Config{Root: t.TempDir(), Parent: p}); err == nil {
			t.Errorf("parent %q accepted", p)
		}
	}
}

// On the real cgroup v1 hierarchy: limits are applied, a process left in
// the pod cgroup is killed on removal, and nothing is left behind.
func TestRealCgroupV1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("no cgroup v1 memory hierarchy")
	}
	parent := fmt.Sprintf("/berth-test-%d/n", rand.IntN(1<<30))
	m, err := New(Config{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.RemoveParent)
	const uid = types.UID("1234")
	if err := m.Ensure(uid, Resources{CPUShares: 256, CPUQuota: 25000, CPUPeriod: 100000, Memory: 32 << 20}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(m.Dir("memory", uid), "memory.limit_in_bytes")); got != strconv.Itoa(32<<20) {
		t.Errorf("memory limit %s", got)
	}
	if got := readTrim(t, filepath.Join(m.Dir("cpu", uid), "cpu.cfs_quota_us")); got != "25000" {
		t.Errorf("cpu quota %s", got)
	}
	// A process in a child cgroup (as a container's would be).
	child := filepath.Join(m.Dir("memory", uid), "ctr")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(child, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	if err := m.Remove(uid); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("process in the pod cgroup survived its removal")
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if _, err := os.Stat(m.Dir(c, uid)); !os.IsNotExist(err) {
			t.Errorf("%s cgroup still there: %v", c, err)
		}
	}
	m.RemoveParent()
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", parent)); !os.IsNotExist(err) {
		t.Errorf("parent cgroup left behind: %v", err)
	}
}

func readTrim(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
