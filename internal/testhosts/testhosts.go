// Package testhosts gives a test several "hosts" on one machine: network
// namespaces joined by veth links to a Linux bridge, as machines on a LAN
// (or on two LANs joined by a router), so that node agents, pod networks
// and tunnels can be tested across hosts. Nothing is created in the test
// process's own network namespace: the bridge lives in a namespace of its
// own, and Forward makes a service of the test process (an API server)
// reachable from the hosts. Programs run on a host with Command or Exec
// (Exec for container runtimes and node agents: it keeps the cgroup
// mounts), and the test process talks from a host with Do or
// DialContext. Every namespace is removed when the test ends, and ones
// left by a killed test process are removed by the next New.
package testhosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Options shape the hosts' network.
type Options struct {
	// Routed puts the hosts on two subnets joined by a router namespace:
	// even-numbered hosts (0, 2, …) on the first, odd-numbered ones on the
	// second. Hosts on different subnets share no link.
	Routed bool
}

// Host is a network namespace standing for a machine.
type Host struct {
	// Name is "h0", "h1", … ("gw" for the switch or router namespace,
	// "h0-p0" … for a Pod).
	Name string
	// Netns is the namespace's name (`ip netns`).
	Netns string
	// IP is the host's address on its link, Prefix the same with its
	// subnet's length (e.g. 192.168.7.2/24).
	IP     netip.Addr
	Prefix netip.Prefix
	// Link is the device holding IP inside the namespace ("eth0"; the
	// bridge for the gateway namespace).
	Link string
	// Gateway is the address of the host's default route, on the other
	// end of Link: .1 of its subnet (for a Pod: its bridge's address).
	Gateway netip.Addr
	// Router is the namespace holding Gateway: the bridge's (or the
	// router's) for hosts from New, the host for a Pod; nil for those.
	Router *Host

	ctx  context.Context // ends with the test: kills Command's processes
	pods *atomic.Int32
}

// prefix starts the name of every namespace this package creates.
const prefix = "bth-"

var (
	// seq numbers the calls of New in this process.
	seq atomic.Int64
	// subnetSeq numbers the subnets; subnetBase is the process's first.
	subnetSeq  atomic.Int32
	subnetBase = sync.OnceValue(func() int32 { return int32(rand.IntN(200)) })
)

// New creates n hosts for the test, removed when it ends. It skips the
// test when not run as root or without iproute2. Host i has address
// 192.168.X.(i+2)/24 on eth0 with a default route through 192.168.X.1,
// the bridge's (or router's) side; X is different for every call in a
// test process. IP forwarding is on in every host.
func New(t testing.TB, n int, opts Options) []*Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testhosts: needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("testhosts: needs iproute2")
	}
	if n < 1 || n > 250 {
		t.Fatalf("testhosts: %d hosts", n)
	}
	sweep()
	id := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var created []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for i := len(created) - 1; i >= 0; i-- {
			if out, err := exec.Command("ip", "netns", "delete", created[i]).CombinedOutput(); err != nil {
				t.Logf("testhosts: delete netns %s: %v: %s", created[i], err, out)
			}
		}
	})
	t.Cleanup(cancel) // runs first: processes go before their namespaces
	addNetns := func(name string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		run(t, "ip", "netns", "add", name)
		created = append(created, name)
		run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}

	base := nextSubnets(opts.Routed)
	nets := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, base, 0}), 24)}
	if opts.Routed {
		nets = append(nets, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, base + 1, 0}), 24))
	}
	gwName := id + "-gw"
	addNetns(gwName)
	var gws []*Host
	for i, p := range nets {
		br := "br" + strconv.Itoa(i)
		gw := &Host{Name: "gw", Netns: gwName, IP: p.Addr().Next(), Link: br, ctx: ctx, pods: new(atomic.Int32)}
		gw.Prefix = netip.PrefixFrom(gw.IP, p.Bits())
		run(t, "ip", "-n", gwName, "link", "add", br, "type", "bridge")
		run(t, "ip", "-n", gwName, "addr", "add", gw.Prefix.String(), "dev", br)
		run(t, "ip", "-n", gwName, "link", "set", br, "up")
		gws = append(gws, gw)
	}
	if err := gws[0].Do(forwarding); err != nil {
		t.Fatalf("testhosts: %v", err)
	}

	hosts := make([]*Host, n)
	for i := range hosts {
		gw := gws[0]
		if opts.Routed {
			gw = gws[i%2]
		}
		ip := gw.IP
		for range i + 1 {
			ip = ip.Next()
		}
		h := &Host{
			Name: "h" + strconv.Itoa(i), Netns: fmt.Sprintf("%s-h%d", id, i), IP: ip,
			Prefix: netip.PrefixFrom(ip, gw.Prefix.Bits()), Link: "eth0", Gateway: gw.IP, Router: gw,
			ctx: ctx, pods: new(atomic.Int32),
		}
		addNetns(h.Netns)
		port := "h" + strconv.Itoa(i)
		run(t, "ip", "-n", gwName, "link", "add", port, "type", "veth", "peer", "name", h.Link, "netns", h.Netns)
		run(t, "ip", "-n", gwName, "link", "set", port, "master", gw.Link, "up")
		run(t, "ip", "-n", h.Netns, "addr", "add", h.Prefix.String(), "dev", h.Link)
		run(t, "ip", "-n", h.Netns, "link", "set", h.Link, "up")
		run(t, "ip", "-n", h.Netns, "route", "add", "default", "via", gw.IP.String())
		if err := h.Do(forwarding); err != nil {
			t.Fatalf("testhosts: %v", err)
		}
		hosts[i] = h
	}
	return hosts
}

// nextSubnets returns X for 192.168.X.0/24 (and X+1 when routed),
// different for each call of the process.
func nextSubnets(routed bool) byte {
	n := int32(1)
	if routed {
		n = 2
	}
	k := subnetSeq.Add(n) - n
	return byte(10 + (subnetBase()+k)%200)
}

// forwarding enables IPv4 forwarding in the calling thread's namespace.
func forwarding() error {
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// Pod adds a pod to the host: a namespace ("<host>-p<k>") with eth0 at
// ip (in gateway's subnet) and a default route through gateway's address,
// whose veth's other end is on bridge in the host, made with address
// gateway if the host has no such device yet. It is removed when the test
// ends.
func (h *Host) Pod(t testing.TB, bridge string, gateway netip.Prefix, ip netip.Addr) *Host {
	t.Helper()
	if !gateway.Contains(ip) {
		t.Fatalf("testhosts: pod address %s is outside %s", ip, gateway)
	}
	if err := exec.Command("ip", "-n", h.Netns, "link", "show", bridge).Run(); err != nil {
		run(t, "ip", "-n", h.Netns, "link", "add", bridge, "type", "bridge")
		run(t, "ip", "-n", h.Netns, "addr", "add", gateway.String(), "dev", bridge)
		run(t, "ip", "-n", h.Netns, "link", "set", bridge, "up")
	}
	k := h.pods.Add(1) - 1
	p := &Host{
		Name: fmt.Sprintf("%s-p%d", h.Name, k), Netns: fmt.Sprintf("%s-p%d", h.Netns, k), IP: ip,
		Prefix: netip.PrefixFrom(ip, gateway.Bits()), Link: "eth0", Gateway: gateway.Addr(), Router: h,
		ctx: h.ctx, pods: new(atomic.Int32),
	}
	run(t, "ip", "netns", "add", p.Netns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", p.Netns).CombinedOutput(); err != nil {
			t.Logf("testhosts: delete netns %s: %v: %s", p.Netns, err, out)
		}
	})
	port := fmt.Sprintf("%s-%d", bridge, k)
	if len(port) > 15 {
		port = fmt.Sprintf("pod%d", k)
	}
	run(t, "ip", "-n", p.Netns, "link", "set", "lo", "up")
	run(t, "ip", "-n", h.Netns, "link", "add", port, "type", "veth", "peer", "name", p.Link, "netns", p.Netns)
	run(t, "ip", "-n", h.Netns, "link", "set", port, "master", bridge, "up")
	run(t, "ip", "-n", p.Netns, "addr", "add", p.Prefix.String(), "dev", p.Link)
	run(t, "ip", "-n", p.Netns, "link", "set", p.Link, "up")
	run(t, "ip", "-n", p.Netns, "route", "add", "default", "via", p.Gateway.String())
	return p
}

// Command returns a command that runs inside the host's namespace (with
// `ip netns exec`, which also shows the namespace's /sys, and so hides the
// cgroup hierarchies mounted below /sys/fs/cgroup: see Exec). It is
// killed when the test ends, if still running.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.CommandContext(h.ctx, "ip", append([]string{"netns", "exec", h.Netns, name}, args...)...)
}

// Exec returns a command that runs inside the host's network namespace
// only (`nsenter --net`): unlike Command it keeps the test process's mount
// namespace, so the cgroup hierarchies mounted below /sys/fs/cgroup stay
// visible, as containerd, runc and a node agent need them. /sys/class/net
// there lists the test process's own devices, not the host's: look at the
// host's devices with ip (netlink). It is killed when the test ends, if
// still running.
func (h *Host) Exec(name string, args ...string) *exec.Cmd {
	return exec.CommandContext(h.ctx, "nsenter", append([]string{"--net=" + filepath.Join(netnsDir, h.Netns), "--", name}, args...)...)
}

// netnsDir is where `ip netns` keeps its namespaces.
const netnsDir = "/run/netns"

// DialContext dials from inside the host's namespace: a net.Dialer's
// DialContext for an http.Transport or a tls.Dialer, so that the test
// process talks to the hosts' addresses as a program on the host would.
// addr must hold an IP address, not a name.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Do runs fn on an OS thread of its own inside the host's namespace and
// returns its error. Sockets fn opens stay in the namespace whichever
// goroutine uses them later; goroutines fn starts do not run there. fn
// runs outside the test's goroutine: it must not call t.Fatal.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Without Unlock, the thread ends with the goroutine: a thread
		// that could not be brought back is never reused.
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("testhosts: current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.Netns)
		if err != nil {
			errc <- fmt.Errorf("testhosts: netns %s: %w", h.Netns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("testhosts: enter netns %s: %w", h.Netns, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Forward listens on port (0: any free one) at the host's address, inside
// its namespace, and relays every connection to target, dialled from the
// test process's own namespace: how hosts reach the test's API server
// (use the gateway namespace, Router, to serve every host). It returns
// the address to dial; it stops when the test ends.
func (h *Host) Forward(t testing.TB, port int, target string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(h.IP, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatalf("testhosts: forward: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if add && conns == nil {
			return false
		}
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
		return true
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := net.Dial("tcp", target)
				if err != nil {
					in.Close()
					return
				}
				if !track(in, true) || !track(out, true) {
					in.Close()
					out.Close()
					return
				}
				defer func() { track(in, false); track(out, false); in.Close(); out.Close() }()
				done := make(chan struct{}, 2)
				relay := func(dst, src net.Conn) {
					io.Copy(dst, src)
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.CloseWrite()
					}
					done <- struct{}{}
				}
				go relay(out, in)
				go relay(in, out)
				<-done
				<-done
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// run runs a command in the test process's namespace or fails the test.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("testhosts: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// sweep deletes the namespaces of test processes that are gone (killed
// before their cleanup ran).
func sweep() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		exec.Command("ip", "netns", "delete", e.Name()).Run()
	}
}
