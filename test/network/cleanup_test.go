package network

import (
	"os"
	"strings"
	"sync"
	"time"

	"berth/internal/leftovers"
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

// owned names what the cluster's nodes may leave on the machine.
func (c *cluster) owned() leftovers.Of {
	return leftovers.Of{Dirs: c.dataDirs(), Nodes: c.nodes}
}

// leaks lists what the cluster left behind: processes mentioning a data
// dir (containerd, shims), mounts below one, pod cgroups under
// /berth/NODE. It waits up to settle for them to go away.
func (c *cluster) leaks(settle time.Duration) []string { return c.owned().Wait(settle) }

// forceCleanup kills the leftover processes, unmounts and removes the
// cgroups.
func (c *cluster) forceCleanup() { c.owned().Remove() }
