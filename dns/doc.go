// Package dns is berth's cluster DNS server. Every node agent runs one, as
// CoreDNS (kubernetes, forward and cache plugins) or NodeLocal DNSCache
// would run, on its bridge gateway address (e.g. 10.42.0.1:53, UDP and
// TCP); the service proxy DNATs the kube-dns Service (10.43.0.10:53) there,
// so pods of dnsPolicy ClusterFirst resolve through their own node.
//
// It answers the Kubernetes DNS-Based Service Discovery specification for
// the cluster domain (Config.Domain, "cluster.local"), the way CoreDNS's
// kubernetes plugin does with "pods insecure" and the reverse zones:
//
//   - SVC.NS.svc.DOMAIN A/AAAA: the ClusterIPs (both families of a
//     dual-stack Service, each to its own question type). For a headless
//     Service (clusterIP None): the addresses of its ready endpoints, or
//     of all of them with spec.publishNotReadyAddresses; a headless
//     Service with no such endpoint is NXDOMAIN, as in CoreDNS.
//   - HOST.SVC.NS.svc.DOMAIN: the endpoints whose hostname is HOST, or,
//     for endpoints without one, whose dashed address is HOST
//     (10-42-0-5, fd00--5). Like CoreDNS, these names exist for every
//     Service with endpoints, not only headless ones.
//   - ExternalName Services: a CNAME to spec.externalName. Unless the
//     CNAME itself was asked, the target is followed for the asked type
//     as CoreDNS does: inside the domain from the index, outside it
//     through the upstreams, whose answer records follow the CNAME. Two
//     small differences from CoreDNS: when the upstreams fail the CNAME
//     alone is returned (CoreDNS answers NODATA), and SRV questions follow
//     the CNAME too (CoreDNS answers NODATA). An externalName that is an
//     IP address, and port or endpoint names under an ExternalName
//     Service, are NXDOMAIN, as in CoreDNS.
//   - SRV _PORT._PROTO.SVC.NS.svc.DOMAIN (underscores optional, as in
//     CoreDNS) for the Service's ports of that name and protocol: for a
//     ClusterIP Service one record per port with target
//     SVC.NS.svc.DOMAIN, for a headless one a record per endpoint and
//     port with target HOST.SVC.NS.svc.DOMAIN; SRV on SVC.NS.svc.DOMAIN
//     itself lists every port. Weights are shared equally (100/n), the
//     targets' A/AAAA records are in the additional section.
//   - A-B-C-D.NS.pod.DOMAIN: A-B-C-D read as an address (IPv6 with
//     dashes for colons), without checking that such a pod exists.
//   - PTR in in-addr.arpa and ip6.arpa for ClusterIPs (to the Service's
//     name) and ready endpoint addresses (to HOST.SVC.NS.svc.DOMAIN);
//     other reverse names go upstream, like CoreDNS's fallthrough.
//   - the apex: SOA (ns.dns.DOMAIN, hostmaster.DOMAIN, a serial that
//     changes with every update, minimum TTL = TTL), NS ns.dns.DOMAIN whose
//     addresses are kube-system/kube-dns's ClusterIPs, and the TXT record
//     dns-version.DOMAIN = "1.1.0".
//   - A name that does not exist is NXDOMAIN, a name that exists without
//     records of the asked type is NOERROR with no answer (NODATA); both
//     are authoritative and carry the SOA in the authority section. The
//     empty non-terminals svc.DOMAIN, NS.svc.DOMAIN, pod.DOMAIN,
//     NS.pod.DOMAIN and dns.DOMAIN are NODATA. Unlike CoreDNS, which
//     watches Namespaces, any namespace is taken to exist.
//   - Questions are matched without regard to case; answers repeat the
//     question's spelling.
//
// Everything else is forwarded to the upstream nameservers (Config.
// Upstreams, by default those of /etc/resolv.conf less the server's own
// and Config.Exclude's addresses, so a node pointing at the cluster DNS
// does not loop): over UDP, again over TCP when the answer is truncated
// (over TCP directly for TCP clients), to the next upstream after an error,
// a timeout, SERVFAIL or REFUSED, starting with the upstream that answered
// last. When none answers the client gets SERVFAIL. Each query is served in
// its own goroutine, so slow upstreams hold up no other query. Forwarded
// answers are cached (Config.CacheSize, at most Config.CacheMaxTTL, 30s, and
// never past their TTL; negative ones for their SOA minimum), as the cache
// plugin of the default CoreDNS configuration; cluster answers are never
// cached, so they follow the API at once. Forwarding failures are logged at
// debug level.
//
// Answers come from an in-memory index fed by the Services and
// discovery/v1 EndpointSlices informers' event handlers: each change
// rebuilds the view of one Service (its records, and its entries in the
// reverse map) under a write lock, and queries read immutable views under
// a read lock, so an answer costs a map lookup however many Services the
// cluster has, and reflects a change as soon as the informer delivers it.
//
// UDP answers are truncated (TC) to 512 bytes or the client's EDNS0 size;
// the server advertises 1232 bytes. Non-query opcodes get NOTIMP, questions
// of other classes than IN under the domain REFUSED.
//
// Wiring: build a Config with the agent's SharedInformerFactory (which must
// watch Services and EndpointSlices of all namespaces), the listen
// addresses and the logger; call New before starting the factory, start
// the factory, and run Run(ctx) in its own goroutine. Ready is closed once
// the caches are synced and the sockets serve; Addrs tells where.
package dns
