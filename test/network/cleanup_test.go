package network

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cleanup dumps the cluster's state if the test failed, stops the agents
// (SIGINT: --stop-pods-on-exit stops their pods) and the server, checks
// for leftovers and removes the data directories.
func (c *cluster) cleanup() {
	t := c.t
	if t.Failed() && c.server != nil && c.server.running() && c.kubeconfig != "" {
		for _, args := range [][]string{
			{"get", "nodes", "-o", "wide"},
			{"get", "pods", "-A", "-o", "wide"},
			{"get", "services,endpointslices,ingresses", "-A", "-o", "wide"},
			{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		} {
			r := c.kubectlRun(nil, args...)
			t.Logf("kubectl %s:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if took, err := a.stop(); err != nil {
				t.Error(err)
			} else if took > 0 {
				t.Logf("%s stopped in %v after SIGINT", a.name, took.Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	// With --stop-pods-on-exit the agent removes its service and
	// masquerade rules.
	for _, a := range c.agents {
		if a.cmd == nil {
			continue
		}
		out, err := a.host.Exec("nft", "list", "tables").CombinedOutput()
		if err != nil {
			t.Errorf("nft list tables on %s: %v: %s", a.host.Name, err, out)
		} else if strings.Contains(string(out), "berth") {
			t.Errorf("%s left nftables tables after SIGINT with --stop-pods-on-exit:\n%s", a.name, out)
		}
	}
	if c.server != nil {
		if took, err := c.server.stop(); err != nil {
			t.Error(err)
		} else if took > 0 {
			t.Logf("%s stopped in %v after SIGINT", c.server.name, took.Round(time.Millisecond))
		}
	}
	leaks := c.leaks(10 * time.Second)
	if len(leaks) > 0 {
		t.Errorf("berth left these behind after SIGINT:\n%s", strings.Join(leaks, "\n"))
		c.forceCleanup()
		if again := c.leaks(5 * time.Second); len(again) > 0 {
			t.Errorf("could not remove berth's leftovers:\n%s", strings.Join(again, "\n"))
		}
	}
	if t.Failed() || os.Getenv("BERTH_NET_VERBOSE") != "" {
		for _, d := range append([]*daemon{c.server}, c.agents...) {
			if d != nil && d.out != nil {
				t.Log(d.output())
			}
		}
	}
	for _, d := range c.dataDirs() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove %s: %v", d, err)
		}
	}
	os.RemoveAll(c.kubeHome)
}

// dataDirs are the daemons' data directories.
func (c *cluster) dataDirs() []string {
	var dirs []string
	for _, d := range append([]*daemon{c.server}, c.agents...) {
		if d != nil && d.dataDir != "" {
			dirs = append(dirs, d.dataDir)
		}
	}
	return dirs
}

// leaks lists what the cluster left behind: processes mentioning a data
// dir (containerd, shims), mounts below one, pod cgroups under
// /berth/NODE. It waits up to settle for them to go away.
func (c *cluster) leaks(settle time.Duration) []string {
	var found []string
	for deadline := time.Now().Add(settle); ; time.Sleep(250 * time.Millisecond) {
		found = nil
		for _, p := range c.processes() {
			found = append(found, fmt.Sprintf("process %d: %s", p.pid, p.cmdline))
		}
		for _, m := range c.mounts() {
			found = append(found, "mount: "+m)
		}
		for _, d := range c.podCgroups() {
			found = append(found, "cgroup: "+d)
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
	}
}

type proc struct {
	pid     int
	cmdline string
}

// processes are the processes whose command line mentions a data dir.
func (c *cluster) processes() []proc {
	dirs := c.dataDirs()
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
		for _, d := range dirs {
			if strings.Contains(cmdline, d+"/") || strings.HasSuffix(cmdline, d) || strings.Contains(cmdline, d+" ") {
				out = append(out, proc{pid, cmdline})
				break
			}
		}
	}
	return out
}

// mounts are the mount points below a data dir.
func (c *cluster) mounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) <= 4 {
			continue
		}
		for _, d := range c.dataDirs() {
			if strings.HasPrefix(unescapeMount(f[4]), d+"/") {
				out = append(out, unescapeMount(f[4]))
			}
		}
	}
	return out
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
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

// podCgroups are the directories below /berth/NODE of every agent.
func (c *cluster) podCgroups() []string {
	var out []string
	for _, root := range cgroupRoots() {
		for _, node := range c.nodes {
			base := filepath.Join(root, "berth", node)
			entries, err := os.ReadDir(base)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if e.IsDir() {
					out = append(out, filepath.Join(base, e.Name()))
				}
			}
		}
	}
	return out
}

// forceCleanup kills the leftover processes (by pid, of the data dirs and
// of the pod cgroups), unmounts and removes the cgroups.
func (c *cluster) forceCleanup() {
	for _, p := range c.processes() {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	for _, root := range cgroupRoots() {
		for _, node := range c.nodes {
			filepath.WalkDir(filepath.Join(root, "berth", node), func(path string, d os.DirEntry, err error) error {
				if err == nil && d.Name() == "cgroup.procs" {
					data, _ := os.ReadFile(path)
					for _, f := range strings.Fields(string(data)) {
						if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
							syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
				return nil
			})
		}
	}
	time.Sleep(500 * time.Millisecond)
	mounts := c.mounts()
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	for _, root := range cgroupRoots() {
		for _, node := range c.nodes {
			var dirs []string
			filepath.WalkDir(filepath.Join(root, "berth", node), func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, path)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				syscall.Rmdir(dirs[i])
			}
		}
	}
}
