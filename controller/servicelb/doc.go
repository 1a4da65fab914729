// Package servicelb is berth's service load-balancer controller, as
// Kubernetes' "service-lb-controller" (the cloud controller manager's
// service controller): Services of type LoadBalancer get a load balancer
// from a Provider — the plug-in seam for clouds — and its address in
// status.loadBalancer.ingress, written through the status subresource.
//
// The built-in provider, NodeAddresses, is k3s's ServiceLB without pods:
// the service proxy on every node already accepts traffic for the
// load-balancer IPs of a Service, so the status lists node addresses —
// the Ready, schedulable nodes' ExternalIPs if any has one, else their
// InternalIPs — with ipMode VIP; for externalTrafficPolicy Local only the
// nodes with a ready endpoint of the Service.
//
// As in Kubernetes: Services with spec.loadBalancerClass are another
// implementation's and left alone; the finalizer
// service.kubernetes.io/load-balancer-cleanup is added before a load
// balancer is made and removed once it is deleted (the Service is being
// deleted, or its type changed away from LoadBalancer: then the status is
// cleared too); a Service deleted without the finalizer has its load
// balancer deleted from its last known state. Nodes passed to the provider
// are those not being deleted, not labelled
// node.kubernetes.io/exclude-from-external-load-balancers and not tainted
// ToBeDeletedByClusterAutoscaler. Node changes (readiness, addresses,
// cordoning, those labels and taints) re-ensure every load balancer, and
// EndpointSlice changes those of Local Services.
//
// Events, from "service-controller": EnsuringLoadBalancer and
// EnsuredLoadBalancer when a Service is first seen or its spec or
// annotations changed; UpdatedLoadBalancer when the nodes changed its
// status; UnAvailableLoadBalancer (Warning) when no node can take its
// traffic; DeletingLoadBalancer, DeletedLoadBalancer; SyncLoadBalancerFailed
// and DeleteLoadBalancerFailed (Warning) on provider errors.
package servicelb
