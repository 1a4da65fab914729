// Package proxy is berth's service proxy: the node agent's kube-proxy. It
// watches Services and discovery/v1 EndpointSlices and keeps one nftables
// table (family ip, default "berth") that makes ClusterIPs, NodePorts,
// LoadBalancer ingress IPs and externalIPs reach the Services' endpoints,
// following the design and behaviour of Kubernetes' nftables kube-proxy
// (pkg/proxy/nftables). Everything the proxy makes lives in its own table,
// so several agents can share a network namespace with distinct tables.
//
// # Table layout
//
// Base chains hook prerouting/output (nat, DNAT), postrouting (nat,
// masquerade) and prerouting/input/forward/output (filter, before DNAT,
// for the checks). Dispatch is by verdict maps, not rule lists:
// @service-ips maps "address . protocol . port" of ClusterIPs, externalIPs
// and LoadBalancer IPs, and @service-nodeports maps "protocol . port" on
// the @nodeport-ips (the configured node IPs; never 127.0.0.1), to
// per-service chains. Each service port has
//
//   - service-HASH-ns/name/proto/port: Cluster-policy endpoints, chosen
//     by "numgen random mod N vmap"; ClientIP affinity first matches the
//     per-endpoint dynamic sets (affinity-..., timeout = timeoutSeconds);
//   - local-...: the same over node-local endpoints (traffic policy Local);
//   - external-...: NodePort/LB/externalIP entry: marks for masquerade
//     (policy Cluster), or short-circuits pod and host traffic to the
//     Cluster chain and sends the rest to local endpoints, keeping the
//     client address (policy Local);
//   - firewall-...: loadBalancerSourceRanges;
//   - endpoint-...__ip/port: marks hairpin traffic (source == endpoint)
//     for masquerade, records affinity, DNATs.
//
// Masquerading is a mark set in the DNAT path (ClusterIP traffic from
// outside ClusterCIDR, Cluster-policy external traffic, hairpin) and a
// "masquerade fully-random" in postrouting. Usable endpoints are the ready
// ones, or, if none is, the serving-terminating ones. A service port
// without usable endpoints is rejected (@no-endpoint-services and
// @no-endpoint-nodeports, checked from input/forward/output as kube-proxy
// does); one with only remote endpoints under a Local policy is dropped.
// Traffic to a ClusterIP port that no Service defines is rejected.
//
// # Syncing
//
// Informer handlers only record which Services are dirty. The sync loop
// (at most one sync per MinSyncPeriod, an isolated change at once)
// renders each dirty Service into its chains, affinity sets and map
// elements, and diffs that against a model of what the kernel holds:
// only chains whose rules changed are flushed and rewritten, only changed
// elements are deleted or added, all in one nft transaction; a sync where
// nothing changed sends none. Chains that fall out of use are flushed at
// once and deleted a second later (kernels before 6.2 release a chain's
// map references late). The first sync of a run, and any sync after a
// failure, replaces the whole table atomically, so nothing of a previous
// run survives. Every SyncPeriod the proxy lists its chains and rebuilds
// the table if someone changed it. After a sync that touched a UDP
// service, conntrack flows of UDP service ports whose reply source is not
// a serving endpoint are deleted, so clients stop talking to gone pods.
//
// Rules stay in place when Run returns, as with kube-proxy; Cleanup
// deletes the table.
//
// Not implemented: IPv6 (IPv6 addresses and slices are ignored), the
// healthCheckNodePort HTTP server, PreferSameNode topology hints (zone
// hints are honoured when Config.Zone is set), dropping traffic to
// unallocated addresses of the ServiceCIDRs, and masquerade-all.
// Bridge-based pod networks need br_netfilter (bridge-nf-call-iptables)
// for replies between pods on one bridge to be un-DNATed, as with
// kube-proxy.
package proxy
