package node

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// writeFiles writes files (path relative to dir → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeHostFiles is a host as /proc, /sys and /etc show it.
func fakeHostFiles() map[string]string {
	return map[string]string{
		"proc/meminfo":                                             "MemTotal:        4194304 kB\nMemFree:         1048576 kB\nMemAvailable:    3145728 kB\nSwapTotal:        524288 kB\nInactive(file):   524288 kB\n",
		"proc/sys/kernel/pid_max":                                  "32768\n",
		"proc/sys/kernel/threads-max":                              "20000\n",
		"proc/sys/kernel/osrelease":                                "6.1.0-test\n",
		"proc/sys/kernel/random/boot_id":                           "d405dd02-b348-486d-b356-f4fe97fd4ccf\n",
		"proc/loadavg":                                             "0.27 1.13 1.66 3/250 10487\n",
		"etc/machine-id":                                           "3d1219c7c4c5404aaa1f6d2a48adfda4\n",
		"etc/os-release":                                           "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
		"sys/class/dmi/id/product_uuid":                            "ec2d2c6b-1111-2222-3333-444455556666\n",
		"sys/devices/system/cpu/online":                            "0-3,6\n",
		"sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages":    "2\n",
		"sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0\n",
	}
}

func fakeHost(t *testing.T, files map[string]string, fs fsSample) *host {
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return &host{root: dir, cgroupRoot: filepath.Join(dir, "cgroup"), statfs: func(string) (fsSample, error) { return fs, nil }}
}

func TestMachineInfo(t *testing.T) {
	h := fakeHost(t, fakeHostFiles(), fsSample{})
	m, err := h.machine()
	if err != nil {
		t.Fatal(err)
	}
	want := machineInfo{
		cpus: 5, memory: 4194304 * 1024, swap: 524288 * 1024,
		hugepages:     map[corev1.ResourceName]int64{"hugepages-2Mi": 4 << 20, "hugepages-1Gi": 0},
		machineID:     "3d1219c7c4c5404aaa1f6d2a48adfda4",
		systemUUID:    "ec2d2c6b-1111-2222-3333-444455556666",
		bootID:        "d405dd02-b348-486d-b356-f4fe97fd4ccf",
		kernelVersion: "6.1.0-test", osImage: "Debian GNU/Linux 12 (bookworm)",
	}
	if m.cpus != want.cpus || m.memory != want.memory || m.swap != want.swap || m.machineID != want.machineID ||
		m.systemUUID != want.systemUUID || m.bootID != want.bootID || m.kernelVersion != want.kernelVersion || m.osImage != want.osImage {
		t.Errorf("machine info\n got %+v\nwant %+v", m, want)
	}
	if len(m.hugepages) != 2 || m.hugepages["hugepages-2Mi"] != 4<<20 || m.hugepages["hugepages-1Gi"] != 0 {
		t.Errorf("hugepages %v, want 2Mi: 4Mi, 1Gi: 0", m.hugepages)
	}
}

// Without the optional identity files the fields are empty and the OS
// image is "Linux"; without meminfo the machine cannot be read.
func TestMachineInfoMissingFiles(t *testing.T) {
	files := fakeHostFiles()
	for _, p := range []string{"etc/machine-id", "etc/os-release", "sys/class/dmi/id/product_uuid", "sys/devices/system/cpu/online"} {
		delete(files, p)
	}
	files["var/lib/dbus/machine-id"] = "dbusid\n"
	m, err := fakeHost(t, files, fsSample{}).machine()
	if err != nil {
		t.Fatal(err)
	}
	if m.machineID != "dbusid" || m.systemUUID != "" || m.osImage != "Linux" || m.cpus != runtime.NumCPU() {
		t.Errorf("got machineID %q systemUUID %q osImage %q cpus %d", m.machineID, m.systemUUID, m.osImage, m.cpus)
	}
	delete(files, "proc/meminfo")
	if _, err := fakeHost(t, files, fsSample{}).machine(); err == nil {
		t.Error("machine without meminfo: no error")
	}
}

func TestCountCPUList(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"0", 1, false},
		{"0-1", 2, false},
		{"0-3,6,8-9", 7, false},
		{"0-1\n", 2, false},
		{"3-1", 0, true},
		{"a-b", 0, true},
	} {
		got, err := countCPUList(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("countCPUList(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestOSImageQuoting(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{`PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`, "Debian GNU/Linux 12 (bookworm)"},
		{`PRETTY_NAME='Alpine Linux v3.20'`, "Alpine Linux v3.20"},
		{"PRETTY_NAME=Plain", "Plain"},
		{"NAME=x", "Linux"},
	} {
		h := fakeHost(t, map[string]string{"etc/os-release": tc.file + "\n"}, fsSample{})
		if got := h.osImage(); got != tc.want {
			t.Errorf("os-release %q: got %q, want %q", tc.file, got, tc.want)
		}
	}
}

// The working set comes from the root memory cgroup (usage less inactive
// file) when it is there, else from meminfo.
func TestMemoryWorkingSet(t *testing.T) {
	h := fakeHost(t, fakeHostFiles(), fsSample{})
	// meminfo: 4Gi - 1Gi free - 512Mi inactive file.
	if got, err := h.memoryWorkingSet(); err != nil || got != (4096-1024-512)<<20 {
		t.Errorf("from meminfo: %d, %v; want %d", got, err, (4096-1024-512)<<20)
	}
	writeFiles(t, h.cgroupRoot, map[string]string{
		"memory/memory.usage_in_bytes": "3000000000\n",
		"memory/memory.stat":           "cache 1\ntotal_rss 5\ntotal_inactive_file 1000000000\n",
	})
	if got, err := h.memoryWorkingSet(); err != nil || got != 2000000000 {
		t.Errorf("from cgroup: %d, %v; want 2000000000", got, err)
	}
	s, err := h.observe("/")
	if err != nil {
		t.Fatal(err)
	}
	if s.memory == nil || s.memory.capacity != 4<<30 || s.memory.available != 4<<30-2000000000 {
		t.Errorf("memory sample %+v", s.memory)
	}
}

func TestPIDs(t *testing.T) {
	files := fakeHostFiles()
	h := fakeHost(t, files, fsSample{})
	p, err := h.pids()
	if err != nil || p.max != 20000 || p.running != 250 {
		t.Errorf("pids = %+v, %v; want max 20000 (threads-max), running 250", p, err)
	}
	files["proc/loadavg"] = "0.1 0.2\n"
	if _, err := fakeHost(t, files, fsSample{}).pids(); err == nil {
		t.Error("short loadavg: no error")
	}
}

// On the machine itself every reading is there.
func TestObserveThisHost(t *testing.T) {
	s, err := newHost("/sys/fs/cgroup").observe(t.TempDir())
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	if s.machine.cpus < 1 || s.machine.memory <= 0 || s.machine.bootID == "" || s.machine.kernelVersion == "" {
		t.Errorf("machine %+v", s.machine)
	}
	if s.memory == nil || s.memory.available <= 0 || s.memory.available > s.memory.capacity {
		t.Errorf("memory %+v", s.memory)
	}
	if s.fs == nil || s.fs.capacity <= 0 || s.fs.available > s.fs.capacity {
		t.Errorf("fs %+v", s.fs)
	}
	if s.pids == nil || s.pids.running <= 0 || s.pids.max <= s.pids.running {
		t.Errorf("pids %+v", s.pids)
	}
}
