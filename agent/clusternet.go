package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"berth/agent/network"
	"berth/dns"
	"berth/ingress"
	"berth/proxy"
)

// clusterNet is the node's part of the cluster network: routes to the
// other nodes' pods and masquerade for traffic leaving the cluster (with
// the agent's own runtime), the service proxy, the node's DNS server on
// the pod network's gateway, and the ingress controller. They share one
// informer factory.
type clusterNet struct {
	factory informers.SharedInformerFactory
	slices  discoverylisters.EndpointSliceLister
	routes  *network.Routes
	masq    *network.Masquerade
	proxy   *proxy.Proxier
	dns     *dns.Server
	ingress *ingress.Controller
	log     *slog.Logger
}

// drainMargin is how long a deleted pod keeps its containers after this
// node saw it leave its Services' endpoints: the time for the other nodes'
// proxies and ingresses to see it too.
const drainMargin = time.Second

// newClusterNet makes the parts; run starts them.
func (a *Agent) newClusterNet(client kubernetes.Interface, podCIDR netip.Prefix, nodeIPs []netip.Addr, clusterDNS []string, log *slog.Logger) (*clusterNet, error) {
	cfg := a.cfg
	cluster, err := netip.ParsePrefix(cfg.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("cluster CIDR: %w", err)
	}
	n := &clusterNet{factory: informers.NewSharedInformerFactory(client, 0), log: log}
	n.slices = n.factory.Discovery().V1().EndpointSlices().Lister()
	ownNetwork := cfg.ContainerRuntimeEndpoint == ""
	if ownNetwork {
		var nodeIP netip.Addr
		if len(nodeIPs) > 0 {
			nodeIP = nodeIPs[0]
		}
		n.routes, err = network.NewRoutes(network.RoutesConfig{
			NodeName: cfg.NodeName, Informers: n.factory, Client: client, NodeIP: nodeIP,
			ClusterCIDR: cluster, Mode: network.Mode(cfg.NetworkMode), VXLANDevice: cfg.vxlanDevice(),
			Logger: log.With("component", "routes"),
		})
		if err != nil {
			return nil, err
		}
		n.masq, err = network.NewMasquerade(network.MasqueradeConfig{
			Table: network.MasqueradeTable(cfg.Bridge), PodCIDR: podCIDR, ClusterCIDR: cluster,
			Logger: log.With("component", "masquerade"),
		})
		if err != nil {
			return nil, err
		}
	}
	n.proxy, err = proxy.New(proxy.Config{
		NodeName: cfg.NodeName, NodeIPs: nodeIPs, ClusterCIDR: cluster, Informers: n.factory,
		Table: cfg.proxyTable(), Logger: log.With("component", "proxy"),
	})
	if err != nil {
		return nil, err
	}
	if ownNetwork {
		// The node's DNS server answers on the pod network's gateway,
		// where the kube-dns Service's endpoint for this node points.
		gw := network.Gateway(podCIDR).Addr().String()
		n.dns, err = dns.New(dns.Config{
			Informers: n.factory, Domain: cfg.ClusterDomain,
			Listen:  []string{net.JoinHostPort(gw, "53")},
			Exclude: clusterDNS, Logger: log.With("component", "dns"),
		})
		if err != nil {
			return nil, err
		}
	}
	if cfg.IngressHTTPPort != 0 || cfg.IngressHTTPSPort != 0 {
		n.ingress, err = ingress.New(ingress.Config{
			Informers: n.factory,
			HTTPAddr:  ":" + strconv.Itoa(cfg.IngressHTTPPort), DisableHTTP: cfg.IngressHTTPPort == 0,
			HTTPSAddr: ":" + strconv.Itoa(cfg.IngressHTTPSPort), DisableHTTPS: cfg.IngressHTTPSPort == 0,
			Logger: log.With("component", "ingress"),
		})
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// run starts the informers and every part with start (which runs a part
// until its context ends and reports its error).
func (n *clusterNet) run(ctx context.Context, start func(name string, ctx context.Context, f func(context.Context) error)) {
	n.factory.Start(ctx.Done())
	if n.routes != nil {
		start("routes", ctx, n.routes.Run)
		start("masquerade", ctx, n.masq.Run)
	}
	start("proxy", ctx, n.proxy.Run)
	if n.dns != nil {
		start("dns", ctx, n.dns.Run)
	}
	if n.ingress != nil {
		// A port taken by another program costs the node its ingress,
		// not everything else.
		start("ingress", ctx, func(ctx context.Context) error {
			if err := n.ingress.Run(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("the ingress controller stopped; the node runs without it (see --ingress-http-port, --ingress-https-port)", "err", err)
			}
			return nil
		})
	}
}

// ready is closed once the service proxy has programmed its first sync.
func (n *clusterNet) ready() <-chan struct{} { return n.proxy.Ready() }

// cleanup removes the node's service rules and masquerade rules (a node
// that stops its pods when it stops).
func (n *clusterNet) cleanup(ctx context.Context) {
	if err := n.proxy.Cleanup(ctx); err != nil {
		n.log.Error("remove service rules", "err", err)
	}
	if n.masq != nil {
		if err := n.masq.Remove(ctx); err != nil {
			n.log.Error("remove masquerade rules", "err", err)
		}
	}
	n.factory.Shutdown()
}

// drain returns once no EndpointSlice lists the pod as a ready endpoint
// any more, plus drainMargin for the other nodes to see it too; at once if
// the pod was no Service's endpoint. The endpoints controllers withdraw a
// pod being deleted (ready false, terminating true) when its deletion is
// requested, so this holds back SIGTERM until the pod gets no new
// connections: rolling updates drop no requests without preStop hooks.
func (n *clusterNet) drain(ctx context.Context, pod *corev1.Pod) {
	ip := pod.Status.PodIP
	if ip == "" {
		return
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		listed, served := n.endpointOf(pod.Namespace, ip)
		if !listed && first {
			return // no Service's endpoint: no traffic to steer away
		}
		if !served {
			break // withdrawn (terminating, or gone from the slices)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	n.log.Debug("pod left its endpoints; draining", "pod", pod.Namespace+"/"+pod.Name)
	select {
	case <-ctx.Done():
	case <-time.After(drainMargin):
	}
}

// endpointOf reports whether an EndpointSlice of the namespace lists ip,
// and whether one lists it as ready.
func (n *clusterNet) endpointOf(namespace, ip string) (listed, ready bool) {
	list, err := n.slices.EndpointSlices(namespace).List(labels.Everything())
	if err != nil {
		return false, false
	}
	for _, s := range list {
		for _, e := range s.Endpoints {
			if slices.Contains(e.Addresses, ip) {
				listed = true
				ready = ready || e.Conditions.Ready == nil || *e.Conditions.Ready
			}
		}
	}
	return listed, ready
}
