package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeDP is a dataplane in memory, behaving as the kernel does where it
// matters: entries and routes on the device go with it.
type fakeDP struct {
	mu         sync.Mutex
	reaches    map[netip.Addr]reach
	forwarding bool
	device     *vxlanDevice
	made       int // devices made
	routeSet   map[route]bool
	neighSet   map[neighbour]bool
	fdbSet     map[fdbEntry]bool
	ops        []string
	fail       map[string]error // by operation and argument, e.g. "add 10.42.2.0/24 via ..."
}

var _ dataplane = (*fakeDP)(nil)

func newFakeDP() *fakeDP {
	return &fakeDP{reaches: map[netip.Addr]reach{}, routeSet: map[route]bool{}, neighSet: map[neighbour]bool{}, fdbSet: map[fdbEntry]bool{}, fail: map[string]error{}}
}

func (f *fakeDP) op(s string) error {
	f.ops = append(f.ops, s)
	return f.fail[s]
}

func (f *fakeDP) enableForwarding() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forwarding = true
	return nil
}

func (f *fakeDP) reach(a netip.Addr) (reach, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reaches[a]
	if !ok {
		return 0, errors.New("unreachable")
	}
	return r, nil
}

func (f *fakeDP) ensureDevice(d vxlanDevice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("device " + d.Name); err != nil {
		return err
	}
	if f.device != nil && (f.device.VNI != d.VNI || f.device.Port != d.Port || f.device.Local != d.Local) {
		f.dropDevice()
	}
	if f.device == nil {
		f.made++
	}
	f.device = &d
	return nil
}

// dropDevice removes the device with what is on it.
func (f *fakeDP) dropDevice() {
	f.device = nil
	for r := range f.routeSet {
		if r.VXLAN {
			delete(f.routeSet, r)
		}
	}
	clear(f.neighSet)
	clear(f.fdbSet)
}

func (f *fakeDP) removeDevice(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.device != nil {
		f.op("remove device")
		f.dropDevice()
	}
	return nil
}

func (f *fakeDP) routes() ([]route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []route
	for r := range f.routeSet {
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeDP) addRoute(r route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("add " + r.String()); err != nil {
		return err
	}
	if r.VXLAN && f.device == nil {
		return errors.New("no device")
	}
	f.routeSet[r] = true
	return nil
}

func (f *fakeDP) delRoute(r route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("del " + r.String()); err != nil {
		return err
	}
	delete(f.routeSet, r)
	return nil
}

func (f *fakeDP) neighbours() ([]neighbour, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []neighbour
	for n := range f.neighSet {
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeDP) setNeighbour(n neighbour) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op("neigh " + n.IP.String())
	f.neighSet[n] = true
	return nil
}

func (f *fakeDP) delNeighbour(n neighbour) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op("del neigh " + n.IP.String())
	delete(f.neighSet, n)
	return nil
}

func (f *fakeDP) fdb() ([]fdbEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fdbEntry
	for e := range f.fdbSet {
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeDP) setFDB(e fdbEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op("fdb " + e.MAC)
	f.fdbSet[e] = true
	return nil
}

func (f *fakeDP) delFDB(e fdbEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op("del fdb " + e.MAC)
	delete(f.fdbSet, e)
	return nil
}

func (f *fakeDP) close() {}

// state lists the routes, neighbours and FDB entries, sorted.
func (f *fakeDP) state() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for r := range f.routeSet {
		out = append(out, "route "+r.String())
	}
	for n := range f.neighSet {
		out = append(out, "neigh "+n.IP.String()+" "+n.MAC)
	}
	for e := range f.fdbSet {
		out = append(out, "fdb "+e.MAC+" "+e.Dst.String())
	}
	slices.Sort(out)
	return out
}

// harness runs Routes for node "a" against a fake API and dataplane.
type harness struct {
	t      *testing.T
	client *fake.Clientset
	dp     *fakeDP
	r      *Routes
}

func newHarness(t *testing.T, mode Mode, nodes ...*corev1.Node) *harness {
	t.Helper()
	client := fake.NewClientset()
	for _, n := range nodes {
		if _, err := client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	r, err := NewRoutes(RoutesConfig{
		NodeName: "a", Informers: factory, Client: client, Mode: mode,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	dp := newFakeDP()
	r.open = func() (dataplane, error) { return dp, nil }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &harness{t: t, client: client, dp: dp, r: r}
}

// sync waits until the lister holds want nodes and syncs once.
func (h *harness) sync(want int) error {
	h.t.Helper()
	h.waitNodes(want)
	return h.r.sync(context.Background(), h.dp)
}

func (h *harness) waitNodes(want int) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, _ := h.r.nodes.List(labels.Everything())
		if len(ns) == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("lister has %d nodes, want %d", len(ns), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) expectState(want ...string) {
	h.t.Helper()
	slices.Sort(want)
	if got := h.dp.state(); !slices.Equal(got, want) {
		h.t.Errorf("kernel state:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const macB, macC = "02:00:00:00:00:0b", "02:00:00:00:00:0c"

func TestSyncRemovesStaleAndConverges(t *testing.T) {
	h := newHarness(t, ModeAuto,
		node("a", "10.42.1.0/24", "192.168.5.2", "", ""),
		node("b", "10.42.2.0/24", "192.168.5.3", macB, ""),
		node("c", "10.42.3.0/24", "192.168.6.3", macC, ""),
	)
	h.dp.reaches[netip.MustParseAddr("192.168.5.3")] = reachDirect
	h.dp.reaches[netip.MustParseAddr("192.168.6.3")] = reachGateway
	// Left by a previous run: a node gone since, and b's route when it
	// was reached through VXLAN.
	h.dp.routeSet[route{Dst: netip.MustParsePrefix("10.42.9.0/24"), Via: netip.MustParseAddr("192.168.5.9")}] = true
	h.dp.device = &vxlanDevice{Name: "berth.1", VNI: 1, Port: 8472, Local: netip.MustParseAddr("192.168.5.2")}
	h.dp.routeSet[route{Dst: netip.MustParsePrefix("10.42.2.0/24"), Via: netip.MustParseAddr("10.42.2.0"), VXLAN: true}] = true
	h.dp.neighSet[neighbour{IP: netip.MustParseAddr("10.42.2.0"), MAC: macB}] = true
	h.dp.fdbSet[fdbEntry{MAC: macB, Dst: netip.MustParseAddr("192.168.5.3")}] = true

	if err := h.sync(3); err != nil {
		t.Fatal(err)
	}
	h.expectState(
		"route 10.42.2.0/24 via 192.168.5.3",
		"route 10.42.3.0/24 via 10.42.3.0 (vxlan)",
		"neigh 10.42.3.0 "+macC,
		"fdb "+macC+" 192.168.6.3",
	)
	if h.dp.made != 0 {
		t.Errorf("the matching device was made again")
	}
	// The FDB and neighbour entries come before the route that needs them.
	fdb, neigh, add := slices.Index(h.dp.ops, "fdb "+macC), slices.Index(h.dp.ops, "neigh 10.42.3.0"), slices.Index(h.dp.ops, "add 10.42.3.0/24 via 10.42.3.0 (vxlan)")
	if fdb < 0 || neigh < 0 || add < 0 || fdb > add || neigh > add {
		t.Errorf("operations in the wrong order: %v", h.dp.ops)
	}

	// A second sync changes nothing.
	h.dp.ops = nil
	if err := h.sync(3); err != nil {
		t.Fatal(err)
	}
	if len(h.dp.ops) != 1 || h.dp.ops[0] != "device berth.1" {
		t.Errorf("second sync did %v", h.dp.ops)
	}
}

func TestSyncPublishesVTEP(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ModeVXLAN, node("a", "10.42.1.0/24", "192.168.5.2", "", ""))
	if err := h.sync(1); err != nil {
		t.Fatal(err)
	}
	if h.dp.device == nil || h.dp.device.Addr != netip.MustParsePrefix("10.42.1.0/32") || h.dp.device.Local != netip.MustParseAddr("192.168.5.2") {
		t.Fatalf("device %+v", h.dp.device)
	}
	if h.dp.device.MAC.String() != vtepMAC("a").String() || h.dp.device.VNI != 1 || h.dp.device.Port != 8472 {
		t.Errorf("device %+v", h.dp.device)
	}
	n, err := h.client.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Annotations[VXLANMACAnnotation] != vtepMAC("a").String() || n.Annotations[VXLANIPAnnotation] != "192.168.5.2" {
		t.Errorf("annotations %v", n.Annotations)
	}
	// Published once: a second sync patches nothing.
	waitFor(t, func() bool {
		n, _ := h.r.nodes.Get("a")
		return n != nil && n.Annotations[VXLANMACAnnotation] != ""
	})
	h.client.ClearActions()
	if err := h.sync(1); err != nil {
		t.Fatal(err)
	}
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("patched again: %v", a)
		}
	}

	// In host-gw mode the device and the annotations go.
	hg := newHarness(t, ModeHostGW, n)
	hg.dp.device = &vxlanDevice{Name: "berth.1"}
	if err := hg.sync(1); err != nil {
		t.Fatal(err)
	}
	if hg.dp.device != nil {
		t.Error("host-gw mode kept the VXLAN device")
	}
	n, err = hg.client.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Annotations[VXLANMACAnnotation]; ok {
		t.Errorf("annotations left: %v", n.Annotations)
	}
	if _, ok := n.Annotations[VXLANIPAnnotation]; ok {
		t.Errorf("annotations left: %v", n.Annotations)
	}
}

func TestSyncKeepsGoingPastAFailure(t *testing.T) {
	h := newHarness(t, ModeHostGW,
		node("a", "10.42.1.0/24", "192.168.5.2", "", ""),
		node("b", "10.42.2.0/24", "192.168.5.3", "", ""),
		node("c", "10.42.3.0/24", "192.168.5.4", "", ""),
	)
	h.dp.reaches[netip.MustParseAddr("192.168.5.3")] = reachDirect
	h.dp.reaches[netip.MustParseAddr("192.168.5.4")] = reachDirect
	h.dp.fail["add 10.42.2.0/24 via 192.168.5.3"] = errors.New("boom")
	err := h.sync(3)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("sync error %v, want boom", err)
	}
	h.expectState("route 10.42.3.0/24 via 192.168.5.4")
	delete(h.dp.fail, "add 10.42.2.0/24 via 192.168.5.3")
	if err := h.sync(3); err != nil {
		t.Fatal(err)
	}
	h.expectState("route 10.42.2.0/24 via 192.168.5.3", "route 10.42.3.0/24 via 192.168.5.4")
}

// TestRunFollowsNodes drives Run through Node events only.
func TestRunFollowsNodes(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ModeAuto, node("a", "10.42.1.0/24", "192.168.5.2", "", ""))
	h.dp.reaches[netip.MustParseAddr("192.168.5.3")] = reachDirect
	h.dp.reaches[netip.MustParseAddr("192.168.6.3")] = reachGateway
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.r.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	nodes := h.client.CoreV1().Nodes()
	if _, err := nodes.Create(ctx, node("b", "10.42.2.0/24", "192.168.5.3", "", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.Create(ctx, node("c", "10.42.3.0/24", "192.168.6.3", "", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.dp, "route 10.42.2.0/24 via 192.168.5.3")
	if !h.dp.forwarding {
		t.Error("IP forwarding not enabled")
	}
	// c publishes its VTEP: the VXLAN route follows.
	c, _ := nodes.Get(ctx, "c", metav1.GetOptions{})
	c.Annotations[VXLANMACAnnotation] = macC
	if _, err := nodes.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.dp, "route 10.42.2.0/24 via 192.168.5.3", "route 10.42.3.0/24 via 10.42.3.0 (vxlan)",
		"neigh 10.42.3.0 "+macC, "fdb "+macC+" 192.168.6.3")
	// Nodes go: so do their routes, and the device with the last VXLAN
	// peer.
	if err := nodes.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.dp, "route 10.42.2.0/24 via 192.168.5.3")
	waitFor(t, func() bool { h.dp.mu.Lock(); defer h.dp.mu.Unlock(); return h.dp.device == nil })
	if err := nodes.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.dp)
}

func waitState(t *testing.T, dp *fakeDP, want ...string) {
	t.Helper()
	slices.Sort(want)
	var got []string
	ok := poll(5*time.Second, func() bool {
		got = dp.state()
		return slices.Equal(got, want)
	})
	if !ok {
		t.Fatalf("kernel state:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !poll(5*time.Second, cond) {
		t.Fatal("condition not met within 5s")
	}
}

func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestRoutesConfig(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	valid := func() RoutesConfig {
		return RoutesConfig{NodeName: "a", Informers: factory, Client: fake.NewClientset()}
	}
	tests := []struct {
		name   string
		change func(*RoutesConfig)
		errs   []string
	}{
		{"defaults", func(*RoutesConfig) {}, nil},
		{"missing", func(c *RoutesConfig) { c.NodeName, c.Informers, c.Client = "", nil, nil }, []string{"no node name", "no informer", "no client"}},
		{"mode", func(c *RoutesConfig) { c.Mode = "bgp" }, []string{`mode "bgp"`}},
		{"device", func(c *RoutesConfig) { c.VXLANDevice = "a-very-long-name-x" }, []string{"longer than 15"}},
		{"vni", func(c *RoutesConfig) { c.VNI = 1 << 24 }, []string{"VNI"}},
		{"port", func(c *RoutesConfig) { c.VXLANPort = 70000 }, []string{"port"}},
		{"cidr", func(c *RoutesConfig) { c.ClusterCIDR = netip.MustParsePrefix("10.42.1.0/16") }, []string{"host bits"}},
		{"family", func(c *RoutesConfig) { c.NodeIP = netip.MustParseAddr("fd00::1") }, []string{"family"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			_, err := NewRoutes(c)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	c := valid()
	c.Defaults()
	if got := fmt.Sprintf("%s %s %d %d %s", c.Mode, c.VXLANDevice, c.VNI, c.VXLANPort, c.ClusterCIDR); got != "auto berth.1 1 8472 10.42.0.0/16" {
		t.Errorf("defaults %s", got)
	}
}
