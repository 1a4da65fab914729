// Package agent is berth's node agent, the kubelet's part: it runs a
// containerd of its own (or uses a given CRI socket), registers its Node
// and keeps it up to date, runs the pods bound to it with their volumes and
// probes, and serves the API server's calls for logs, exec, attach,
// port-forward and stats. It composes the packages below it:
//
//	containerd  the supervised container runtime
//	network     the CNI configuration of the pod network
//	node        registration, Lease heartbeats, Node status
//	pod         the pod lifecycle (with cgroup, volume and probe)
//	server      the HTTPS endpoint (with stats)
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"log/slog"
	"net/netip"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/containerd"
	"berth/agent/network"
	"berth/agent/node"
	"berth/agent/pod"
	"berth/agent/probe"
	agentserver "berth/agent/server"
	"berth/agent/stats"
	"berth/agent/volume"
	"berth/images"
)

// Agent is a node agent.
type Agent struct {
	cfg   Config
	ready chan struct{}

	mu   sync.Mutex
	addr string
}

// New checks cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, ready: make(chan struct{})}, nil
}

// Ready is closed once the Node is registered and the agent runs pods.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Address is the HTTPS endpoint's address, once Ready.
func (a *Agent) Address() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// runtimeStartTimeout bounds the wait for the container runtime.
const runtimeStartTimeout = time.Minute

// stopPodsTimeout bounds the orderly stop of every pod (StopPodsOnExit).
const stopPodsTimeout = 2 * time.Minute

// Run runs the agent until ctx ends, then stops its parts in order.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	log := cfg.Logger.With("node", cfg.NodeName)
	start := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("agent: listen %s: %w", cfg.Address, err)
	}
	defer ln.Close()
	tlsCfg, err := servingTLS(cfg.Credentials.ServingCertFile, cfg.Credentials.ServingKeyFile, cfg.Credentials.CAFile)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	// The runtime outlives everything else: it stops last.
	rtCtx, stopRuntime := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuntime()
	endpoint, runtimeDone, err := a.startRuntime(rtCtx, ctx)
	if err != nil {
		return err
	}
	defer func() {
		stopRuntime()
		<-runtimeDone
	}()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("agent: CRI: %w", err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	imgs := runtimeapi.NewImageServiceClient(conn)

	client, err := kubernetes.NewForConfig(protobuf(cfg.Credentials.Rest))
	if err != nil {
		return err
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer events.Shutdown()
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	vols, err := volume.New(volume.Config{Root: cfg.podsDir(), Client: client, NodeName: cfg.NodeName, Logger: log.With("component", "volumes")})
	if err != nil {
		return err
	}
	probes := probe.NewManager(probe.Config{Exec: probe.ExecFunc(rt), Recorder: recorder, Logger: log.With("component", "probes")})
	collector, err := stats.New(stats.Config{NodeName: cfg.NodeName, Runtime: rt, FsDir: cfg.DataDir, Logger: log.With("component", "stats")})
	if err != nil {
		return err
	}
	var addrs []corev1.NodeAddress
	if cfg.NodeIP != nil {
		addrs = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: cfg.NodeIP.String()}, {Type: corev1.NodeHostName, Address: cfg.NodeName}}
	}
	nd, err := node.New(node.Config{
		Name: cfg.NodeName, Client: client, Runtime: rt, Images: imgs, Addresses: addrs,
		DaemonPort: int32(ln.Addr().(*net.TCPAddr).Port), PodCIDR: cfg.PodCIDR,
		Labels: cfg.Labels, Taints: cfg.Taints, Reserved: cfg.Reserved, RootDir: cfg.DataDir,
		CgroupRoot: cfg.CgroupRoot, Version: cfg.Version, Recorder: recorder, Logger: log.With("component", "node"),
	})
	if err != nil {
		return err
	}
	clusterDNS := cfg.ClusterDNS
	if len(clusterDNS) == 0 {
		clusterDNS = discoverClusterDNS(ctx, client, log)
	}
	var cnet atomic.Pointer[clusterNet]
	pods, err := pod.New(pod.Config{
		NodeName: cfg.NodeName, Client: client, Runtime: rt, Images: imgs, Volumes: vols, Probes: probes,
		Recorder: recorder, LogDir: cfg.logDir(), PodDir: cfg.podsDir(),
		CgroupParent: "/berth/" + cfg.NodeName, CgroupRoot: cfg.CgroupRoot,
		ClusterDNS: clusterDNS, ClusterDomain: cfg.ClusterDomain, Logger: log,
		Drain: func(ctx context.Context, p *corev1.Pod) {
			if n := cnet.Load(); n != nil {
				n.drain(ctx, p)
			}
		},
	})
	if err != nil {
		return err
	}
	srv, err := agentserver.New(agentserver.Config{Listener: ln, TLS: tlsCfg, Runtime: rt, Stats: collector, Logger: log.With("component", "server")})
	if err != nil {
		return err
	}

	// Everything but the runtime and the pods stops when ctx ends.
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(name string, c context.Context, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil && c.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	partsCtx, stopParts := context.WithCancel(ctx)
	defer stopParts()
	run("node", partsCtx, nd.Run)
	run("volumes", partsCtx, vols.Run)
	run("probes", partsCtx, probes.Run)
	run("stats", partsCtx, collector.Run)
	run("server", partsCtx, srv.Run)

	select {
	case <-nd.Registered():
	case err := <-errc:
		stopParts()
		wg.Wait()
		return err
	case <-ctx.Done():
		stopParts()
		wg.Wait()
		return nil
	}
	podCIDR, nodeIPs, err := a.nodeNetwork(ctx, client, log)
	if err != nil {
		stopParts()
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cn, err := a.newClusterNet(client, podCIDR, nodeIPs, clusterDNS, log)
	if err != nil {
		stopParts()
		wg.Wait()
		return fmt.Errorf("agent: %w", err)
	}
	cnet.Store(cn)
	cn.run(partsCtx, run)
	select {
	case <-cn.ready():
	case <-time.After(10 * time.Second):
		log.Warn("the service proxy has not programmed its rules yet; starting pods anyway")
	case <-ctx.Done():
	}
	if cfg.ImagesReady != nil {
		select {
		case <-cfg.ImagesReady:
		case <-ctx.Done():
		}
	}
	podsCtx, stopPods := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPods()
	podsDone := make(chan error, 1)
	go func() { podsDone <- pods.Run(podsCtx) }()

	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	close(a.ready)
	log.Info("agent ready", "address", a.addr, "startup", time.Since(start).Round(time.Millisecond))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-podsDone:
		if runErr == nil {
			runErr = errors.New("pod manager stopped")
		}
		podsDone <- nil
	}
	if cfg.StopPodsOnExit {
		log.Info("stopping every pod")
		stopCtx, cancel := context.WithTimeout(context.Background(), stopPodsTimeout)
		if err := pods.StopAll(stopCtx); err != nil {
			log.Error("stopping pods", "err", err)
		}
		cn.cleanup(stopCtx)
		cancel()
	}
	stopPods()
	<-podsDone
	stopParts()
	wg.Wait()
	log.Info("agent stopped")
	return runErr
}

// startRuntime starts the agent's containerd (unless an endpoint is
// configured) and waits until it answers; the returned channel is closed
// when it has stopped after rtCtx ends. ctx cuts the wait short.
func (a *Agent) startRuntime(rtCtx, ctx context.Context) (string, <-chan struct{}, error) {
	cfg := a.cfg
	done := make(chan struct{})
	if cfg.ContainerRuntimeEndpoint != "" {
		close(done)
		return cfg.ContainerRuntimeEndpoint, done, nil
	}
	if cfg.PodCIDR != "" {
		if err := network.WriteConflist(cfg.cniDir(), network.CNIConfig{Bridge: cfg.Bridge, Subnet: cfg.PodCIDR, IPAMDir: cfg.ipamDir()}); err != nil {
			return "", nil, fmt.Errorf("agent: pod network: %w", err)
		}
	}
	ctd, err := containerd.New(containerd.Config{
		Dir: cfg.containerdDir(), SandboxImage: images.Pause, CNIConfDir: cfg.cniDir(),
		KeepRunning: !cfg.StopPodsOnExit,
	}, cfg.Logger.With("component", "containerd"))
	if err != nil {
		return "", nil, err
	}
	// Every image name is pulled from the cluster registry, served by
	// the API server.
	if err := ctd.MirrorAll(cfg.Credentials.Server, cfg.Credentials.CAFile); err != nil {
		return "", nil, fmt.Errorf("agent: registry mirror: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		errc <- ctd.Run(rtCtx)
	}()
	select {
	case <-ctd.Ready():
		return ctd.Endpoint(), done, nil
	case err := <-errc:
		return "", nil, fmt.Errorf("agent: containerd: %w", err)
	case <-time.After(runtimeStartTimeout):
		return "", nil, fmt.Errorf("agent: containerd did not answer within %v (see %s/containerd.log)", runtimeStartTimeout, cfg.containerdDir())
	case <-ctx.Done():
		return "", done, ctx.Err()
	}
}

// nodeNetwork returns the node's pod CIDR — the configured one, or the one
// the control plane gives the Node — and addresses. With the agent's own
// runtime it makes the pod bridge and writes the CNI configuration for
// that CIDR (containerd picks it up).
func (a *Agent) nodeNetwork(ctx context.Context, client kubernetes.Interface, log *slog.Logger) (netip.Prefix, []netip.Addr, error) {
	cfg := a.cfg
	var n *corev1.Node
	waiting := false
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, podCIDRTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		n, err = client.CoreV1().Nodes().Get(ctx, cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if n.Spec.PodCIDR == "" && !waiting {
			log.Info("waiting for the control plane to give the node a pod CIDR")
			waiting = true
		}
		return n.Spec.PodCIDR != "", nil
	})
	if err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("agent: the node got no pod CIDR within %v (is the control plane's nodeipam controller running?)", podCIDRTimeout)
	}
	podCIDR, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("agent: node pod CIDR %q: %w", n.Spec.PodCIDR, err)
	}
	podCIDR = podCIDR.Masked()
	var ips []netip.Addr
	for _, addr := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(addr.Address); err == nil && addr.Type == corev1.NodeInternalIP {
			ips = append(ips, ip)
		}
	}
	if cfg.ContainerRuntimeEndpoint != "" {
		return podCIDR, ips, nil
	}
	if err := network.EnsureBridge(cfg.Bridge, podCIDR); err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("agent: pod network: %w", err)
	}
	if n.Spec.PodCIDR != cfg.PodCIDR {
		log.Info("using the node's pod CIDR", "podCIDR", n.Spec.PodCIDR)
		if err := network.WriteConflist(cfg.cniDir(), network.CNIConfig{Bridge: cfg.Bridge, Subnet: n.Spec.PodCIDR, IPAMDir: cfg.ipamDir()}); err != nil {
			return netip.Prefix{}, nil, fmt.Errorf("agent: pod network: %w", err)
		}
	}
	return podCIDR, ips, nil
}

// podCIDRTimeout bounds the wait for the control plane's pod CIDR.
const podCIDRTimeout = 2 * time.Minute

// discoverClusterDNS returns the kube-dns Service's ClusterIP, the
// nameserver of pods with dnsPolicy ClusterFirst; none if there is no
// such Service.
func discoverClusterDNS(ctx context.Context, client kubernetes.Interface, log *slog.Logger) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svc, err := client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		log.Warn("no kube-dns Service: pods use the host's resolvers", "err", err)
		return nil
	}
	return []string{svc.Spec.ClusterIP}
}

// protobuf returns a copy of cfg that speaks protobuf.
func protobuf(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if c.QPS == 0 {
		c.QPS, c.Burst = 50, 100
	}
	return c
}
