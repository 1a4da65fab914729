package servicelb

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"berth/controller"
)

// Provider implements load balancers for Services of type LoadBalancer:
// the plug-in seam for clouds, as the LoadBalancer interface of
// Kubernetes' cloud providers is for its service controller. Calls for
// one Service never overlap; calls for different Services may.
type Provider interface {
	// EnsureLoadBalancer creates or updates the load balancer of svc so
	// that it sends traffic to nodes (the nodes that may take load-balancer
	// traffic: not being deleted, not labelled
	// node.kubernetes.io/exclude-from-external-load-balancers), and returns
	// its status. It is called again whenever the Service, the nodes or the
	// Service's endpoints change, and must be idempotent.
	EnsureLoadBalancer(ctx context.Context, svc *corev1.Service, nodes []*corev1.Node) (*corev1.LoadBalancerStatus, error)
	// EnsureLoadBalancerDeleted removes the load balancer of svc if there
	// is one. It must be idempotent.
	EnsureLoadBalancerDeleted(ctx context.Context, svc *corev1.Service) error
}

// NodeAddresses is berth's built-in Provider, as k3s's ServiceLB but
// without pods: every node's service proxy already accepts traffic to the
// load-balancer IPs in a Service's status on the Service's ports, so the
// load balancer is the nodes themselves. Its status lists the addresses of
// the Ready, schedulable nodes — their ExternalIPs if any of them has one,
// else their InternalIPs, of the Service's IP families — with ipMode VIP.
// With externalTrafficPolicy Local only nodes with a ready endpoint of the
// Service are listed, since the others drop that traffic.
type NodeAddresses struct {
	slices discoverylisters.EndpointSliceLister
}

var _ Provider = (*NodeAddresses)(nil)

// NewNodeAddresses returns the built-in provider; slices finds the
// endpoints of Services with externalTrafficPolicy Local.
func NewNodeAddresses(slices discoverylisters.EndpointSliceLister) *NodeAddresses {
	return &NodeAddresses{slices: slices}
}

// EnsureLoadBalancer returns the addresses of the nodes serving svc.
func (p *NodeAddresses) EnsureLoadBalancer(_ context.Context, svc *corev1.Service, nodes []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	var local map[string]bool
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		var err error
		if local, err = p.endpointNodes(svc); err != nil {
			return nil, err
		}
	}
	var external, internal []netip.Addr
	for _, n := range nodes {
		if !controller.NodeReady(n) || n.Spec.Unschedulable || (local != nil && !local[n.Name]) {
			continue
		}
		for _, a := range n.Status.Addresses {
			ip, err := netip.ParseAddr(a.Address)
			ip = ip.Unmap()
			if err != nil || !family(svc, ip) {
				continue
			}
			switch a.Type {
			case corev1.NodeExternalIP:
				external = append(external, ip)
			case corev1.NodeInternalIP:
				internal = append(internal, ip)
			}
		}
	}
	ips := internal
	if len(external) > 0 {
		ips = external
	}
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	ips = slices.Compact(ips)
	status := &corev1.LoadBalancerStatus{}
	for _, ip := range ips {
		mode := corev1.LoadBalancerIPModeVIP
		status.Ingress = append(status.Ingress, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &mode})
	}
	return status, nil
}

// EnsureLoadBalancerDeleted has nothing to remove: the status goes with
// the Service.
func (p *NodeAddresses) EnsureLoadBalancerDeleted(context.Context, *corev1.Service) error { return nil }

// endpointNodes returns the nodes with a ready endpoint of svc.
func (p *NodeAddresses) endpointNodes(svc *corev1.Service) (map[string]bool, error) {
	list, err := p.slices.EndpointSlices(svc.Namespace).List(labels.Set{discoveryv1.LabelServiceName: svc.Name}.AsSelectorPreValidated())
	if err != nil {
		return nil, fmt.Errorf("list endpoint slices of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	out := map[string]bool{}
	for _, s := range list {
		for _, ep := range s.Endpoints {
			// A nil ready condition means ready, as the API says.
			if ep.NodeName != nil && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				out[*ep.NodeName] = true
			}
		}
	}
	return out, nil
}

// family reports whether ip is of one of svc's IP families (any, if it
// lists none).
func family(svc *corev1.Service, ip netip.Addr) bool {
	if len(svc.Spec.IPFamilies) == 0 {
		return true
	}
	want := corev1.IPv4Protocol
	if !ip.Is4() {
		want = corev1.IPv6Protocol
	}
	return slices.Contains(svc.Spec.IPFamilies, want)
}
