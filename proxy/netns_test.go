package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

// The kernel tests build, in throwaway network namespaces:
//
//	client (192.168.77.2) ── node (192.168.77.1, 10.42.0.1) ── pod p1 (10.42.0.2)
//	                                                       ── pod p2 (10.42.0.3) ...
//
// Pods hang off point-to-point veths with /32 routes, so all pod
// traffic crosses the node's IP stack (no bridge, no br_netfilter). Each
// pod runs a TCP echo server on 8080 and a UDP one on 5353 answering
// "<pod> <client ip>". The proxier runs in the test process with nft and
// netlink pointed at the node namespace.
const (
	kNodeName   = "node"
	kNodeIP     = "192.168.77.1"
	kClientIP   = "192.168.77.2"
	kPodGateway = "10.42.0.1"
	kTCPPort    = 8080
	kUDPPort    = 5353
)

// inNS runs fn on a thread in network namespace ns. The thread is never
// unlocked, so it dies with the goroutine instead of returning to the
// scheduler in a foreign namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// nsNFT runs knftables in a network namespace: nft, started from a thread
// locked in it, inherits it.
type nsNFT struct {
	ns  netns.NsHandle
	nft knftables.Interface
}

var _ knftables.Interface = (*nsNFT)(nil)

func newNSNFT(ns netns.NsHandle, table string) (*nsNFT, error) {
	n := &nsNFT{ns: ns}
	err := inNS(ns, func() (err error) {
		n.nft, err = knftables.New(knftables.IPv4Family, table)
		return err
	})
	return n, err
}

func (n *nsNFT) NewTransaction() *knftables.Transaction { return n.nft.NewTransaction() }

func (n *nsNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	return inNS(n.ns, func() error { return n.nft.Run(ctx, tx) })
}

func (n *nsNFT) Check(ctx context.Context, tx *knftables.Transaction) error {
	return inNS(n.ns, func() error { return n.nft.Check(ctx, tx) })
}

func (n *nsNFT) List(ctx context.Context, kind string) (out []string, err error) {
	err = inNS(n.ns, func() error { out, err = n.nft.List(ctx, kind); return err })
	return out, err
}

func (n *nsNFT) ListRules(ctx context.Context, chain string) (out []*knftables.Rule, err error) {
	err = inNS(n.ns, func() error { out, err = n.nft.ListRules(ctx, chain); return err })
	return out, err
}

func (n *nsNFT) ListElements(ctx context.Context, kind, name string) (out []*knftables.Element, err error) {
	err = inNS(n.ns, func() error { out, err = n.nft.ListElements(ctx, kind, name); return err })
	return out, err
}

func requireKernel(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("needs %s", tool)
		}
	}
}

func sh(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kpod is a pod namespace with its echo servers.
type kpod struct {
	name string
	ip   string
	ns   netns.NsHandle
}

// kenv is the namespaces of one kernel test.
type kenv struct {
	tb     testing.TB
	prefix string
	node   netns.NsHandle
	client netns.NsHandle
	pods   map[string]*kpod
	names  []string
}

func newKernelEnv(tb testing.TB, pods int) *kenv {
	tb.Helper()
	requireKernel(tb)
	e := &kenv{tb: tb, prefix: fmt.Sprintf("bpx%06x", rand.Uint32()&0xffffff), pods: map[string]*kpod{}}
	e.node = e.netns("node")
	e.client = e.netns("cli")
	nodeNS := e.prefix + "-node"
	ipn := func(ns string, args ...string) { sh(tb, append([]string{"ip", "-n", ns}, args...)...) }

	ipn(nodeNS, "link", "set", "lo", "up")
	ipn(nodeNS, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", e.prefix+"-cli")
	ipn(nodeNS, "addr", "add", kNodeIP+"/24", "dev", "vc")
	ipn(nodeNS, "link", "set", "vc", "up")
	ipn(e.prefix+"-cli", "link", "set", "lo", "up")
	ipn(e.prefix+"-cli", "addr", "add", kClientIP+"/24", "dev", "eth0")
	ipn(e.prefix+"-cli", "link", "set", "eth0", "up")
	ipn(e.prefix+"-cli", "route", "add", "default", "via", kNodeIP)
	// Service addresses route somewhere, as on a real node.
	ipn(nodeNS, "route", "add", "default", "via", kClientIP)
	sh(tb, "ip", "netns", "exec", nodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	for i := 1; i <= pods; i++ {
		name := fmt.Sprintf("p%d", i)
		ns := e.prefix + "-" + name
		p := &kpod{name: name, ip: fmt.Sprintf("10.42.0.%d", i+1), ns: e.netns(name)}
		veth := "v" + name
		ipn(nodeNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		ipn(nodeNS, "addr", "add", kPodGateway+"/32", "dev", veth)
		ipn(nodeNS, "link", "set", veth, "up")
		ipn(nodeNS, "route", "add", p.ip+"/32", "dev", veth)
		ipn(ns, "link", "set", "lo", "up")
		ipn(ns, "addr", "add", p.ip+"/32", "dev", "eth0")
		ipn(ns, "link", "set", "eth0", "up")
		ipn(ns, "route", "add", kPodGateway+"/32", "dev", "eth0")
		ipn(ns, "route", "add", "default", "via", kPodGateway, "dev", "eth0")
		e.serve(p)
		e.pods[name] = p
	}
	return e
}

// netns creates a named namespace removed at cleanup.
func (e *kenv) netns(suffix string) netns.NsHandle {
	name := e.prefix + "-" + suffix
	sh(e.tb, "ip", "netns", "add", name)
	e.names = append(e.names, name)
	h, err := netns.GetFromName(name)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.tb.Cleanup(func() {
		h.Close()
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	return h
}

// serve starts the pod's echo servers, stopped at cleanup.
func (e *kenv) serve(p *kpod) {
	var ln net.Listener
	var pc net.PacketConn
	err := inNS(p.ns, func() (err error) {
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", kTCPPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", kUDPPort))
		return err
	})
	if err != nil {
		e.tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", p.name, host)
			c.Close()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(p.name+" "+host), from)
		}
	}()
	e.tb.Cleanup(func() {
		ln.Close()
		pc.Close()
		wg.Wait()
	})
}

// reply is what an echo server answered.
type reply struct {
	pod, src string
}

// dial connects over TCP from namespace ns and reads the answer.
func dial(ns netns.NsHandle, addr string, timeout time.Duration) (r reply, err error) {
	err = inNS(ns, func() error {
		c, err := net.DialTimeout("tcp4", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		r.pod, r.src, _ = strings.Cut(strings.TrimSpace(line), " ")
		return nil
	})
	return r, err
}

// udpSocket is a UDP socket in a namespace, kept across queries so that
// its flow (and conntrack entry) stays the same.
func udpSocket(tb testing.TB, ns netns.NsHandle) *net.UDPConn {
	var c *net.UDPConn
	if err := inNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func query(c *net.UDPConn, addr string, timeout time.Duration) (reply, error) {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return reply{}, err
	}
	if _, err := c.WriteTo([]byte("hi"), to); err != nil {
		return reply{}, err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 512)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return reply{}, err
	}
	var r reply
	r.pod, r.src, _ = strings.Cut(string(buf[:n]), " ")
	return r, nil
}

// kproxy is a Proxier running in a kenv's node namespace, fed by a fake
// clientset through informers, as in the agent.
type kproxy struct {
	tb     testing.TB
	p      *Proxier
	client *fake.Clientset
	table  string
	nft    *nsNFT
	seq    int
	stop   func()
}

func (e *kenv) startProxy(mods ...func(*Config)) *kproxy {
	e.tb.Helper()
	return e.startProxyWith(nil, mods...)
}

// startProxyWith starts the proxy over a clientset holding objs (the
// fake's watch cannot take thousands of creations while watched).
func (e *kenv) startProxyWith(objs []kruntime.Object, mods ...func(*Config)) *kproxy {
	tb := e.tb
	tb.Helper()
	table := "berth-" + e.prefix
	nft, err := newNSNFT(e.node, table)
	if err != nil {
		tb.Fatal(err)
	}
	ct, err := netlink.NewHandleAt(e.node, unix.NETLINK_NETFILTER)
	if err != nil {
		tb.Fatal(err)
	}
	k := &kproxy{tb: tb, client: fake.NewClientset(objs...), table: table, nft: nft}
	factory := informers.NewSharedInformerFactory(k.client, 0)
	cfg := Config{
		NodeName:    kNodeName,
		NodeIPs:     []netip.Addr{netip.MustParseAddr(kNodeIP)},
		ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"),
		Informers:   factory,
		Table:       table,
		NFT:         nft,
		Conntrack:   ct,
		Logger:      slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	if k.p, err = New(cfg); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- k.p.Run(ctx) }()
	var once sync.Once
	k.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("run: %v", err)
			}
			factory.Shutdown()
			ct.Close()
		})
	}
	tb.Cleanup(k.stop)
	select {
	case <-k.p.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("proxy not ready")
	}
	return k
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

const seqAnnotation = "test.berth/seq"

// apply creates or updates objects and waits until the kernel has them.
func (k *kproxy) apply(objs ...any) {
	k.tb.Helper()
	ctx := context.Background()
	for _, o := range objs {
		k.seq++
		seq := fmt.Sprint(k.seq)
		var err error
		var key types.NamespacedName
		var seen func() bool
		switch o := o.(type) {
		case *corev1.Service:
			o = o.DeepCopy()
			metav1.SetMetaDataAnnotation(&o.ObjectMeta, seqAnnotation, seq)
			key = types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
			if _, err = k.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = k.client.CoreV1().Services(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			}
			seen = func() bool { s := k.p.services[key]; return s != nil && s.Annotations[seqAnnotation] == seq }
		case *discoveryv1.EndpointSlice:
			o = o.DeepCopy()
			metav1.SetMetaDataAnnotation(&o.ObjectMeta, seqAnnotation, seq)
			key, _ = sliceService(o)
			name := o.Name
			if _, err = k.client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = k.client.DiscoveryV1().EndpointSlices(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			}
			seen = func() bool { s := k.p.slices[key][name]; return s != nil && s.Annotations[seqAnnotation] == seq }
		default:
			k.tb.Fatalf("unexpected %T", o)
		}
		if err != nil {
			k.tb.Fatal(err)
		}
		k.settle(seen)
	}
}

// deleteSlice deletes an EndpointSlice and waits until the kernel knows.
func (k *kproxy) deleteSlice(svc, name string) {
	k.tb.Helper()
	if err := k.client.DiscoveryV1().EndpointSlices("ns").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		k.tb.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: svc}
	k.settle(func() bool { _, ok := k.p.slices[key][name]; return !ok })
}

// settle waits until the handlers saw a change (seen, called with p.mu
// held) and a sync has put everything seen so far in the kernel.
func (k *kproxy) settle(seen func() bool) {
	k.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var gen uint64
	for {
		k.p.mu.Lock()
		ok := seen()
		gen = k.p.gen
		k.p.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			k.tb.Fatal("informer never delivered the change")
		}
		time.Sleep(time.Millisecond)
	}
	for k.p.applied.Load() < gen {
		if time.Now().After(deadline) {
			k.tb.Fatal("change never synced")
		}
		time.Sleep(time.Millisecond)
	}
}

// hostHasTable says whether the host's own namespace has the table.
func hostHasTable(table string) bool {
	return exec.Command("nft", "list", "table", "ip", table).Run() == nil
}

// isRefused: the connection was actively rejected.
func isRefused(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED)
}
