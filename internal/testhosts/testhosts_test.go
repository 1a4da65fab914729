package testhosts

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a TCP listener at addr inside h (nil: the test process's
// namespace); accepted connections' remote addresses arrive on the
// channel. It closes with the test.
func listen(t *testing.T, h *Host, addr netip.AddrPort) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	do := func(f func() error) error { return f() }
	if h != nil {
		do = h.Do
	}
	if err := do(func() (err error) {
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan netip.AddrPort, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- netip.MustParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintln(c, "hello")
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), seen
}

// dial connects from inside h and reads the greeting.
func dial(h *Host, to netip.AddrPort) error {
	return h.Do(func() error {
		c, err := net.DialTimeout("tcp", to.String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "hello\n" {
			return fmt.Errorf("read %q", line)
		}
		return nil
	})
}

// counter reads a statistics counter of the host's link.
func counter(t *testing.T, h *Host, name string) int {
	t.Helper()
	out, err := h.Command("cat", "/sys/class/net/"+h.Link+"/statistics/"+name).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSharedLink(t *testing.T) {
	t.Parallel()
	var names []string
	t.Run("hosts", func(t *testing.T) {
		hosts := New(t, 3, Options{})
		for _, h := range hosts {
			names = append(names, h.Netns)
			if h.Gateway != hosts[0].Gateway || h.Router.Netns != hosts[0].Router.Netns {
				t.Errorf("%s: gateway %s in %s, want the same for every host", h.Name, h.Gateway, h.Router.Netns)
			}
			if h.Prefix.Bits() != 24 || h.Prefix.Addr() != h.IP || !h.Prefix.Contains(h.Gateway) {
				t.Errorf("%s: prefix %s, ip %s, gateway %s", h.Name, h.Prefix, h.IP, h.Gateway)
			}
		}
		names = append(names, hosts[0].Router.Netns)
		addr, seen := listen(t, hosts[1], netip.AddrPortFrom(hosts[1].IP, 0))
		before := counter(t, hosts[1], "rx_packets")
		if err := dial(hosts[0], addr); err != nil {
			t.Fatalf("h0 → h1: %v", err)
		}
		if got := (<-seen).Addr(); got != hosts[0].IP {
			t.Errorf("h1 saw the connection from %s, want %s", got, hosts[0].IP)
		}
		if after := counter(t, hosts[1], "rx_packets"); after <= before {
			t.Errorf("h1's eth0 received no packets (%d → %d): the traffic did not cross the link", before, after)
		}
		// The hosts share a link: no gateway on the way.
		out, err := hosts[0].Command("ip", "route", "get", hosts[2].IP.String()).CombinedOutput()
		if err != nil || strings.Contains(string(out), " via ") {
			t.Errorf("route h0 → h2: %s (%v), want a direct one", out, err)
		}
		for _, h := range hosts {
			out, err := h.Command("cat", "/proc/sys/net/ipv4/ip_forward").Output()
			if err != nil || strings.TrimSpace(string(out)) != "1" {
				t.Errorf("%s: ip_forward %q (%v)", h.Name, out, err)
			}
		}
		// The gateway's address is reachable from a host.
		gwAddr, gwSeen := listen(t, hosts[2].Router, netip.AddrPortFrom(hosts[2].Gateway, 0))
		if err := dial(hosts[2], gwAddr); err != nil {
			t.Fatalf("h2 → gateway: %v", err)
		}
		if got := (<-gwSeen).Addr(); got != hosts[2].IP {
			t.Errorf("gateway saw %s, want %s", got, hosts[2].IP)
		}
	})
	if len(names) != 4 {
		t.Fatalf("namespaces %v", names)
	}
	for _, n := range names {
		if _, err := os.Stat("/run/netns/" + n); !os.IsNotExist(err) {
			t.Errorf("namespace %s left after the test (%v)", n, err)
		}
	}
}

func TestRouted(t *testing.T) {
	t.Parallel()
	hosts := New(t, 3, Options{Routed: true})
	if hosts[0].Prefix.Masked() == hosts[1].Prefix.Masked() {
		t.Fatalf("h0 and h1 share subnet %s", hosts[0].Prefix.Masked())
	}
	if hosts[0].Prefix.Masked() != hosts[2].Prefix.Masked() {
		t.Fatalf("h0 (%s) and h2 (%s) should share a subnet", hosts[0].Prefix, hosts[2].Prefix)
	}
	out, err := hosts[0].Command("ip", "route", "get", hosts[1].IP.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " via "+hosts[0].Gateway.String()) {
		t.Errorf("route h0 → h1: %s (%v), want one through the router", out, err)
	}
	addr, seen := listen(t, hosts[1], netip.AddrPortFrom(hosts[1].IP, 0))
	if err := dial(hosts[0], addr); err != nil {
		t.Fatalf("h0 → h1 through the router: %v", err)
	}
	if got := (<-seen).Addr(); got != hosts[0].IP {
		t.Errorf("h1 saw %s, want %s", got, hosts[0].IP)
	}
}

func TestForwardAndPod(t *testing.T) {
	t.Parallel()
	hosts := New(t, 2, Options{Routed: true})
	// A service of the test process, on loopback.
	target, seen := listen(t, nil, netip.MustParseAddrPort("127.0.0.1:0"))
	fwd := hosts[1].Router.Forward(t, 0, target.String())
	if fwd.Addr() != hosts[1].Gateway {
		t.Errorf("forward at %s, want the gateway %s", fwd, hosts[1].Gateway)
	}
	for _, h := range hosts {
		if err := dial(h, fwd); err != nil {
			t.Fatalf("%s → forwarded service: %v", h.Name, err)
		}
		<-seen
	}

	gw := netip.MustParsePrefix("10.99.0.1/24")
	pod := hosts[0].Pod(t, "podbr", gw, netip.MustParseAddr("10.99.0.7"))
	if pod.Gateway != gw.Addr() || pod.Router != hosts[0] {
		t.Errorf("pod gateway %s router %v", pod.Gateway, pod.Router)
	}
	addr, podSeen := listen(t, hosts[0], netip.AddrPortFrom(gw.Addr(), 0))
	if err := dial(pod, addr); err != nil {
		t.Fatalf("pod → its host: %v", err)
	}
	if got := (<-podSeen).Addr(); got != pod.IP {
		t.Errorf("host saw %s, want the pod's %s", got, pod.IP)
	}
	second := hosts[0].Pod(t, "podbr", gw, netip.MustParseAddr("10.99.0.8"))
	if second.Netns == pod.Netns {
		t.Errorf("two pods share namespace %s", pod.Netns)
	}
	if err := dial(second, addr); err != nil {
		t.Fatalf("second pod → its host: %v", err)
	}
}

// cgroupMounts lists the mount points below /sys/fs/cgroup in a
// /proc/self/mountinfo.
func cgroupMounts(mountinfo string) []string {
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], "/sys/fs/cgroup") {
			out = append(out, f[4])
		}
	}
	return out
}

func TestExec(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter")
	}
	hosts := New(t, 2, Options{})
	h := hosts[1]
	// Inside the host's network namespace: its address, its routes.
	out, err := h.Exec("ip", "-o", "-4", "addr", "show", "dev", h.Link).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " "+h.Prefix.String()+" ") {
		t.Errorf("ip addr in %s: %s (%v), want %s", h.Name, out, err, h.Prefix)
	}
	// In the test process's mount namespace: the same cgroup mounts.
	own, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out, err = h.Exec("cat", "/proc/self/mountinfo").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, got := cgroupMounts(string(own)), cgroupMounts(string(out))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cgroup mounts through Exec: %v, want the test process's %v", got, want)
	}
	if viaCommand, err := h.Command("cat", "/proc/self/mountinfo").Output(); err == nil {
		t.Logf("cgroup mounts: %d through Exec, %d through Command (ip netns exec remounts /sys)", len(got), len(cgroupMounts(string(viaCommand))))
	}
	// The command's exit status comes through nsenter.
	if err := h.Exec("sh", "-c", "exit 3").Run(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit status through Exec: %v", err)
	}
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	hosts := New(t, 2, Options{})
	addr, seen := listen(t, hosts[1], netip.AddrPortFrom(hosts[1].IP, 0))
	c, err := hosts[0].DialContext(context.Background(), "tcp", addr.String())
	if err != nil {
		t.Fatalf("h0 → h1: %v", err)
	}
	defer c.Close()
	// The socket stays in h0 although this goroutine is not there.
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Errorf("read %q (%v)", line, err)
	}
	if got := (<-seen).Addr(); got != hosts[0].IP {
		t.Errorf("h1 saw %s, want h0's %s", got, hosts[0].IP)
	}
}
