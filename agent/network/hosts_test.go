package network_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"berth/agent/network"
	"berth/internal/testhosts"
	"berth/internal/testserver"
)

// These tests run the pod network of several nodes across testhosts'
// hosts (network namespaces), against a real API server: on each host a
// Routes, a Masquerade and a dummy pod (a namespace on the host's bridge
// "berth0", at .5 of the node's pod CIDR 10.42.(i+1).0/24).

// cluster is the hosts with their nodes and pods.
type cluster struct {
	t      *testing.T
	api    *testserver.Server
	hosts  []*testhosts.Host
	pods   []*testhosts.Host
	masq   []*network.Masquerade
	mode   network.Mode
	agents []func() // stops the host's Routes; nil when not running
}

func newCluster(t *testing.T, n int, opts testhosts.Options, mode network.Mode) *cluster {
	t.Helper()
	hosts := testhosts.New(t, n, opts)
	c := &cluster{t: t, api: testserver.Start(t, testserver.Bare), hosts: hosts, mode: mode, agents: make([]func(), n)}
	ctx := context.Background()
	for i, h := range hosts {
		cidr := podCIDR(i)
		nd := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i)}, Spec: corev1.NodeSpec{PodCIDR: cidr.String()}}
		created, err := c.api.Client.CoreV1().Nodes().Create(ctx, nd, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: h.IP.String()}, {Type: corev1.NodeHostName, Address: nodeName(i)}}
		if _, err := c.api.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		gw := netip.PrefixFrom(cidr.Addr().Next(), cidr.Bits())
		c.pods = append(c.pods, h.Pod(t, "berth0", gw, podIP(i)))
		m, err := network.NewMasquerade(network.MasqueradeConfig{Table: network.MasqueradeTable("berth0"), PodCIDR: cidr, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Do(func() error { return m.Sync(ctx) }); err != nil {
			t.Fatal(err)
		}
		c.masq = append(c.masq, m)
	}
	for i := range hosts {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.agents {
			c.stop(i)
		}
	})
	return c
}

func nodeName(i int) string { return fmt.Sprintf("node-%d", i) }
func podCIDR(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 42, byte(i + 1), 0}), 24)
}
func podIP(i int) netip.Addr    { return netip.AddrFrom4([4]byte{10, 42, byte(i + 1), 5}) }
func vtepAddr(i int) netip.Addr { return podCIDR(i).Addr() }
func quiet() *slog.Logger       { return slog.New(slog.NewTextHandler(logOut(), nil)) }
func logOut() io.Writer {
	if os.Getenv("BERTH_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// start runs host i's Routes in its namespace, as its agent does.
func (c *cluster) start(i int) {
	c.t.Helper()
	factory := informers.NewSharedInformerFactory(c.api.Client, 0)
	r, err := network.NewRoutes(network.RoutesConfig{
		NodeName: nodeName(i), Informers: factory, Client: c.api.Client, Mode: c.mode,
		Logger: quiet().With("node", nodeName(i)),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.hosts[i].Do(func() error { return r.Run(ctx) }) }()
	c.agents[i] = func() {
		cancel()
		if err := <-done; err != nil {
			c.t.Errorf("routes of %s: %v", nodeName(i), err)
		}
		factory.Shutdown()
	}
}

func (c *cluster) stop(i int) {
	if c.agents[i] != nil {
		c.agents[i]()
		c.agents[i] = nil
	}
}

// listen opens a TCP listener at addr inside h; the remote address of each
// connection arrives on the channel.
func listen(t *testing.T, h *testhosts.Host, addr netip.Addr) (netip.AddrPort, <-chan netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan netip.Addr, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- netip.MustParseAddrPort(conn.RemoteAddr().String()).Addr()
			fmt.Fprintln(conn, "hello")
			conn.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), seen
}

// dial connects from inside h and reads the greeting.
func dial(h *testhosts.Host, to netip.AddrPort, timeout time.Duration) error {
	return h.Do(func() error {
		conn, err := net.DialTimeout("tcp", to.String(), timeout)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(timeout))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "hello\n" {
			return fmt.Errorf("read %q", line)
		}
		return nil
	})
}

// reach waits until from connects to the listener (routes are set up
// asynchronously) and returns the source address the listener saw.
func reach(t *testing.T, from *testhosts.Host, to netip.AddrPort, seen <-chan netip.Addr) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := dial(from, to, time.Second)
		if err == nil {
			select {
			case src := <-seen:
				return src
			case <-time.After(5 * time.Second):
				t.Fatalf("%s → %s: connected, but the listener saw nothing", from.Name, to)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s → %s: %v", from.Name, to, err)
		}
		// A connection that failed half-way may still be seen: drop it.
		for len(seen) > 0 {
			<-seen
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podToPod proves every pod reaches every other with its own address.
func (c *cluster) podToPod() {
	c.t.Helper()
	for j, dst := range c.pods {
		addr, seen := listen(c.t, dst, dst.IP)
		for i, src := range c.pods {
			if i == j {
				continue
			}
			if got := reach(c.t, src, addr, seen); got != src.IP {
				c.t.Errorf("pod on %s → pod on %s: seen from %s, want the pod's own %s (no masquerade)", c.hosts[i].Name, c.hosts[j].Name, got, src.IP)
			}
		}
	}
}

// leaveCluster proves that pod i's traffic to an address outside the
// cluster CIDR (its host's gateway, which has no route to pods) is
// masqueraded to the host's address, and is not without the table.
func (c *cluster) leaveCluster(i int) {
	c.t.Helper()
	h := c.hosts[i]
	addr, seen := listen(c.t, h.Router, h.Gateway)
	if got := reach(c.t, c.pods[i], addr, seen); got != h.IP {
		c.t.Errorf("pod on %s → %s: seen from %s, want the host's %s", h.Name, addr, got, h.IP)
	}
	ctx := context.Background()
	if err := h.Do(func() error { return c.masq[i].Remove(ctx) }); err != nil {
		c.t.Fatal(err)
	}
	if out, err := h.Command("nft", "list", "table", "ip", network.MasqueradeTable("berth0")).CombinedOutput(); err == nil {
		c.t.Errorf("table left after Remove:\n%s", out)
	}
	if err := dial(c.pods[i], addr, time.Second); err == nil {
		c.t.Errorf("pod on %s reached %s without masquerade: the test proves nothing", h.Name, addr)
	}
	if err := h.Do(func() error { return c.masq[i].Sync(ctx) }); err != nil {
		c.t.Fatal(err)
	}
}

// lines runs a command in host i and returns its output's lines, trimmed.
func (c *cluster) lines(i int, name string, args ...string) []string {
	c.t.Helper()
	out, err := c.hosts[i].Command(name, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %v on %s: %v: %s", name, args, c.hosts[i].Name, err, out)
	}
	var ls []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	return ls
}

// routes lists host i's routes added by Routes.
func (c *cluster) routes(i int) []string {
	return c.lines(i, "ip", "route", "show", "proto", fmt.Sprint(network.RouteProtocol))
}

// entries lists the VXLAN device's permanent neighbours and FDB entries
// on host i (nil without the device).
func (c *cluster) entries(i int) []string {
	if err := c.hosts[i].Command("ip", "link", "show", "berth.1").Run(); err != nil {
		return nil
	}
	var out []string
	for _, l := range c.lines(i, "ip", "neigh", "show", "dev", "berth.1", "nud", "permanent") {
		out = append(out, "neigh "+l)
	}
	for _, l := range c.lines(i, "bridge", "fdb", "show", "dev", "berth.1") {
		out = append(out, "fdb "+l)
	}
	slices.Sort(out)
	return out
}

// eventually waits until get() equals want.
func (c *cluster) eventually(what string, get func() []string, want ...string) {
	c.t.Helper()
	slices.Sort(want)
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = get()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostGW and vxlan are the routes Routes adds to node j from host i.
func (c *cluster) hostGW(j int) string {
	return fmt.Sprintf("%s via %s dev eth0", podCIDR(j), c.hosts[j].IP)
}

func vxlanRoute(j int) string {
	return fmt.Sprintf("%s via %s dev berth.1 onlink", podCIDR(j), vtepAddr(j))
}

// vxlanEntries are the neighbour and FDB entries for node j.
func (c *cluster) vxlanEntries(j int) []string {
	mac := c.mac(j)
	return []string{
		fmt.Sprintf("neigh %s lladdr %s PERMANENT", vtepAddr(j), mac),
		fmt.Sprintf("fdb %s dst %s self permanent", mac, c.hosts[j].IP),
	}
}

// mac is node j's published VXLAN MAC.
func (c *cluster) mac(j int) string {
	c.t.Helper()
	n, err := c.api.Client.CoreV1().Nodes().Get(context.Background(), nodeName(j), metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	mac := n.Annotations[network.VXLANMACAnnotation]
	if mac == "" {
		c.t.Fatalf("%s has no %s annotation: %v", nodeName(j), network.VXLANMACAnnotation, n.Annotations)
	}
	if ip := n.Annotations[network.VXLANIPAnnotation]; ip != c.hosts[j].IP.String() {
		c.t.Errorf("%s: %s = %q, want %s", nodeName(j), network.VXLANIPAnnotation, ip, c.hosts[j].IP)
	}
	return mac
}

func (c *cluster) deleteNode(j int) {
	c.t.Helper()
	if err := c.api.Client.CoreV1().Nodes().Delete(context.Background(), nodeName(j), metav1.DeleteOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// TestHostGW: three hosts on one link, mode auto: plain routes through
// the peers' addresses.
func TestHostGW(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, testhosts.Options{}, network.ModeAuto)
	c.eventually("routes on h0", func() []string { return c.routes(0) }, c.hostGW(1), c.hostGW(2))
	c.eventually("routes on h1", func() []string { return c.routes(1) }, c.hostGW(0), c.hostGW(2))
	c.eventually("routes on h2", func() []string { return c.routes(2) }, c.hostGW(0), c.hostGW(1))
	for i := range c.hosts {
		if err := c.hosts[i].Command("ip", "link", "show", "berth.1").Run(); err == nil {
			t.Errorf("h%d has a VXLAN device in host-gw", i)
		}
		if out := c.lines(i, "cat", "/proc/sys/net/ipv4/ip_forward"); !slices.Equal(out, []string{"1"}) {
			t.Errorf("h%d: ip_forward %v", i, out)
		}
	}
	c.podToPod()
	c.leaveCluster(0)

	// A restart removes what the agent left for a node deleted meanwhile,
	// and a route of its protocol for no node; others' routes stay.
	c.stop(0)
	c.deleteNode(2)
	c.eventually("routes on h1 after node-2 went", func() []string { return c.routes(1) }, c.hostGW(0))
	run(t, c.hosts[0], "ip", "route", "add", "10.42.200.0/24", "via", c.hosts[1].IP.String(), "proto", fmt.Sprint(network.RouteProtocol))
	run(t, c.hosts[0], "ip", "route", "add", "10.42.201.0/24", "via", c.hosts[1].IP.String(), "proto", "static")
	run(t, c.hosts[0], "ip", "route", "add", "10.99.0.0/24", "via", c.hosts[1].IP.String(), "proto", fmt.Sprint(network.RouteProtocol))
	if got := c.routes(0); len(got) != 4 {
		t.Fatalf("routes on h0 before the restart: %v", got)
	}
	c.start(0)
	c.eventually("routes on h0 after the restart", func() []string { return c.routes(0) },
		c.hostGW(1), fmt.Sprintf("10.99.0.0/24 via %s dev eth0", c.hosts[1].IP))
	if got := c.lines(0, "ip", "route", "show", "10.42.201.0/24"); len(got) != 1 {
		t.Errorf("a static route in the cluster CIDR was removed: %v", got)
	}
}

// TestVXLANRouted: h0 and h2 share a subnet, h1 is behind a router; mode
// auto gives host-gw between h0 and h2, VXLAN to and from h1.
func TestVXLANRouted(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, testhosts.Options{Routed: true}, network.ModeAuto)
	c.eventually("routes on h0", func() []string { return c.routes(0) }, vxlanRoute(1), c.hostGW(2))
	c.eventually("routes on h1", func() []string { return c.routes(1) }, vxlanRoute(0), vxlanRoute(2))
	c.eventually("routes on h2", func() []string { return c.routes(2) }, c.hostGW(0), vxlanRoute(1))
	c.eventually("VXLAN entries on h0", func() []string { return c.entries(0) }, c.vxlanEntries(1)...)
	c.eventually("VXLAN entries on h1", func() []string { return c.entries(1) }, append(c.vxlanEntries(0), c.vxlanEntries(2)...)...)
	if got := c.lines(1, "ip", "-br", "addr", "show", "dev", "berth.1"); len(got) != 1 || !strings.Contains(got[0], vtepAddr(1).String()+"/32") {
		t.Errorf("h1's VXLAN device addresses: %v, want %s/32", got, vtepAddr(1))
	}
	c.podToPod()
	c.leaveCluster(1)

	// node-1 goes: its VXLAN routes and entries go, and with the last
	// VXLAN peer the device itself.
	c.deleteNode(1)
	c.eventually("routes on h0", func() []string { return c.routes(0) }, c.hostGW(2))
	c.eventually("routes on h2", func() []string { return c.routes(2) }, c.hostGW(0))
	c.eventually("VXLAN entries on h0", func() []string { return c.entries(0) })
	c.eventually("VXLAN device on h2", func() []string { return c.lines(2, "ip", "-br", "link", "show", "type", "vxlan") })
}

// TestVXLANForced: two hosts on one link, mode vxlan.
func TestVXLANForced(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, testhosts.Options{}, network.ModeVXLAN)
	c.eventually("routes on h0", func() []string { return c.routes(0) }, vxlanRoute(1))
	c.eventually("routes on h1", func() []string { return c.routes(1) }, vxlanRoute(0))
	c.eventually("VXLAN entries on h0", func() []string { return c.entries(0) }, c.vxlanEntries(1)...)
	details := strings.Join(c.lines(0, "ip", "-d", "link", "show", "berth.1"), " ")
	for _, want := range []string{"mtu 1450", "vxlan id 1 ", "local " + c.hosts[0].IP.String(), "dstport 8472", "nolearning", "link/ether " + c.mac(0)} {
		if !strings.Contains(details, want) {
			t.Errorf("device berth.1 lacks %q: %s", want, details)
		}
	}
	c.podToPod()
	c.leaveCluster(0)

	// The host reaches the other's pods from its device's address.
	addr, seen := listen(t, c.pods[1], c.pods[1].IP)
	if got := reach(t, c.hosts[0], addr, seen); got != vtepAddr(0) {
		t.Errorf("h0 → pod on h1: seen from %s, want h0's VXLAN address %s", got, vtepAddr(0))
	}

	// Node deleted while h0's agent is down: the restart cleans up.
	c.stop(0)
	c.deleteNode(1)
	c.start(0)
	c.eventually("routes on h0 after the restart", func() []string { return c.routes(0) })
	c.eventually("VXLAN entries on h0 after the restart", func() []string { return c.entries(0) })
	if err := c.hosts[0].Command("ip", "link", "show", "berth.1").Run(); err != nil {
		t.Errorf("vxlan mode removed its device: %v", err)
	}
}

func run(t *testing.T, h *testhosts.Host, name string, args ...string) {
	t.Helper()
	if out, err := h.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v on %s: %v: %s", name, args, h.Name, err, out)
	}
}
