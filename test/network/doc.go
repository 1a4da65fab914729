// Package network is the end-to-end test suite of berth's networking: a
// real cluster of several hosts on one machine, with real containers, and
// the pod network, Services, cluster DNS and ingress seen the way a user
// and a client outside the cluster see them.
//
// # Topology
//
// internal/testhosts makes the hosts: network namespaces on a LAN (or on
// two subnets joined by a router). Host 0 runs `berth server` (a control
// plane that is no node: it also stands for a client outside the nodes);
// each other host runs `berth agent`, joined with a token from `berth
// token create`, with its own containerd, bridge, routes, nftables service
// proxy, DNS server and ingress controller. The daemons run in their
// host's network namespace only (testhosts.Host.Exec, nsenter --net), so
// that containerd and runc see the cgroup hierarchies. The berth binary is
// built from the current source once per test process (its built-in
// images need ./hack/build.sh to have built images/bin first). kubectl
// runs on host 0 with the admin kubeconfig; client-go and the test's HTTP
// clients dial from inside host 0 (or a node) through
// testhosts.Host.DialContext, so the test counts every request and error
// itself.
//
// # What the suite proves
//
// TestNetwork: one cluster of two nodes on one LAN, the agents' default
// network mode; the subtests share it and run in order.
//
//   - nodes get distinct /24 pod CIDRs of 10.42.0.0/16 from the server;
//     a Deployment of berth/demo:v1 (4 replicas, topology spread) lands on
//     both nodes;
//   - PodToPod: pod IPs come from their node's CIDR; each node routes the
//     other's pod CIDR through the other node's address (host-gw on a
//     shared link); a pod on node 1 reaches a demo pod on node 2 at its pod
//     IP, and pods on either node see each other's own address (no NAT);
//   - ClusterDNS: kube-system/kube-dns has 10.43.0.10 and an endpoint on
//     every node's bridge gateway; pods get the kubelet's resolv.conf
//     (nameserver, search path, ndots:5);
//   - ServiceNamesAndSpread: `web`, `web.NS` and `web.NS.svc.cluster.local`
//     answer from a pod; the name resolves to the ClusterIP; 40 requests
//     reach pods on both nodes;
//   - NodePortAndLoadBalancer: from host 0, the NodePort on each node's
//     address reaches pods on both nodes; a LoadBalancer Service gets the
//     nodes' InternalIPs in status.loadBalancer.ingress and answers there;
//   - HeadlessDNS: a headless Service resolves to the ready pods' IPs;
//   - NewServiceDNS: a loop in a pod sees a new Service's name resolve at
//     most a second after the Service's creation (the delay is logged);
//   - SessionAffinity: with ClientIP affinity every request of a pod goes
//     to one backend;
//   - Ingress: the default IngressClass berth serves an Ingress without a
//     class on port 80 of both nodes: host a.example.com to the v1 Service,
//     b.example.com/path (Prefix) to a v2 Service, 404 elsewhere; on 443
//     the certificate of a kubernetes.io/tls Secret made by the test is
//     served for SNI a.example.com (verified against it, and HTTPS answers),
//     and a self-signed default certificate for other names;
//   - ZeroDowntimeRollingUpdate: continuous GETs (a new connection each)
//     through the Service (NodePort on both nodes from host 0, ClusterIP
//     from a node) and through the Ingress while `kubectl set image`
//     rolls the Deployment to v2 and `kubectl rollout status` completes:
//     the request and failure counts are logged, failures must be 0, both
//     versions must have answered, and at the end only v2 answers.
//
// TestVXLAN: two nodes on different subnets joined by a router, agents
// with --network-mode vxlan: each node's route to the other's pods goes
// through a VXLAN device, pods reach each other with their own addresses,
// and the devices' transmit counters grow.
//
// # Cleanup
//
// Each cluster ends the same way: the agents get SIGINT (with
// --stop-pods-on-exit they stop their pods) and must exit 0 and leave no
// nftables table of theirs, then the server gets SIGINT; no process may
// mention a data directory, nothing may stay mounted below one, and no pod
// cgroup may remain under /berth/NODE. testhosts removes the namespaces.
// On a failure the test logs kubectl's view (nodes, pods -o wide,
// services, endpoint slices, ingresses, events) and the daemons' output
// (without the ingress access log lines).
//
// The tests need root, containerd, runc, the CNI plugins, nftables,
// iproute2, nsenter and kubectl (./hack/deps.sh installs the runtime);
// they are skipped only when not root or without containerd or nft.
// BERTH_NET_VERBOSE=1 prints the daemons' output when the tests pass too;
// KUBECTL names another kubectl binary.
package network
