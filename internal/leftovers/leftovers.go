// Package leftovers finds and removes what berth nodes may leave on a
// machine — processes of their data directories (containerd, shims),
// mounts below them, pod cgroups under /berth/NODE — for the end-to-end
// suites (test/node, test/network), which check that a stopped node leaves
// nothing behind.
package leftovers

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Of names what belongs to some nodes: their data directories and names.
type Of struct {
	Dirs  []string
	Nodes []string
}

// Find lists what is left: processes whose command line mentions a data
// dir, mount points below one, and cgroups below /berth/NODE.
func (o Of) Find() []string {
	var found []string
	for _, p := range o.processes() {
		found = append(found, fmt.Sprintf("process %d: %s", p.pid, p.cmdline))
	}
	for _, m := range o.mounts() {
		found = append(found, "mount: "+m)
	}
	for _, d := range o.cgroups() {
		found = append(found, "cgroup: "+d)
	}
	return found
}

// Wait is Find, repeated for up to settle until nothing is left (shims
// exit a moment after containerd); more, if given, adds checks of the
// caller's own.
func (o Of) Wait(settle time.Duration, more ...func() []string) []string {
	for deadline := time.Now().Add(settle); ; time.Sleep(250 * time.Millisecond) {
		found := o.Find()
		for _, f := range more {
			found = append(found, f()...)
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
	}
}

// Remove kills the leftover processes (those of the data dirs and those in
// the pod cgroups), unmounts the mounts and removes the cgroups.
func (o Of) Remove() {
	for _, p := range o.processes() {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	o.walkCgroups(func(path string, d os.DirEntry) {
		if d.Name() == "cgroup.procs" {
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	time.Sleep(500 * time.Millisecond)
	mounts := o.mounts()
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	var dirs []string
	o.walkCgroups(func(path string, d os.DirEntry) {
		if d.IsDir() {
			dirs = append(dirs, path)
		}
	})
	for i := len(dirs) - 1; i >= 0; i-- { // children first
		syscall.Rmdir(dirs[i])
	}
}

type proc struct {
	pid     int
	cmdline string
}

func (o Of) processes() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
		for _, d := range o.Dirs {
			if strings.Contains(cmdline, d+"/") || strings.Contains(cmdline, d+" ") || strings.HasSuffix(cmdline, d) {
				out = append(out, proc{pid, cmdline})
				break
			}
		}
	}
	return out
}

func (o Of) mounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) <= 4 {
			continue
		}
		point := unescape.Replace(f[4])
		for _, d := range o.Dirs {
			if strings.HasPrefix(point, d+"/") {
				out = append(out, point)
				break
			}
		}
	}
	return out
}

// cgroups are the directories below /berth/NODE in every hierarchy.
func (o Of) cgroups() []string {
	var out []string
	for _, root := range cgroupRoots() {
		for _, node := range o.Nodes {
			base := filepath.Join(root, "berth", node)
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				if e.IsDir() {
					out = append(out, filepath.Join(base, e.Name()))
				}
			}
		}
	}
	return out
}

// walkCgroups calls f for everything below /berth/NODE, parents first.
func (o Of) walkCgroups(f func(path string, d os.DirEntry)) {
	for _, root := range cgroupRoots() {
		for _, node := range o.Nodes {
			filepath.WalkDir(filepath.Join(root, "berth", node), func(path string, d os.DirEntry, err error) error {
				if err == nil {
					f(path, d)
				}
				return nil
			})
		}
	}
}

// cgroupRoots are the cgroup v1 hierarchies mounted under /sys/fs/cgroup.
func cgroupRoots() []string {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
			continue
		}
		out = append(out, p)
	}
	return out
}
