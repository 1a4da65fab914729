// Package ingress is berth's built-in ingress controller: every node agent
// runs it in process, as k3s ships traefik, so that networking.k8s.io/v1
// Ingresses of the class "berth" work out of the box. It is an HTTP and
// HTTPS reverse proxy (net/http, httputil.ReverseProxy) that forwards
// straight to ready pod endpoints taken from EndpointSlices, not through
// the Service's ClusterIP, so it needs no service proxy and can retry
// another pod itself.
//
// # Design
//
// Informer events (Ingresses, IngressClasses, and the Services,
// EndpointSlices and Secrets the served Ingresses refer to) kick one
// goroutine, which after a 10 ms debounce rebuilds an immutable routing
// table from the listers and swaps it in with an atomic pointer: requests
// read it without locks, and changes apply within milliseconds.
//
// Which Ingresses are served: the legacy kubernetes.io/ingress.class
// annotation when present, else spec.ingressClassName; both must name
// Config.ClassName or an IngressClass whose spec.controller is
// Config.Controller. Ingresses with neither are served when one of those
// classes carries ingressclass.kubernetes.io/is-default-class: "true".
//
// Routing follows the Ingress spec. The rules of all served Ingresses are
// merged; on a conflict (same host, path type and path) the oldest Ingress
// wins. A request picks the most specific host group that has a matching
// path — its exact host, then the wildcard "*.suffix" covering exactly its
// first label, then the rules without a host (as traefik and the Gateway
// API fall through; ingress-nginx would not) — and in it the longest
// matching path, Exact before Prefix on equal length. Prefix matching goes
// by "/"-separated elements and ignores trailing slashes;
// ImplementationSpecific is Prefix. Without a match the oldest Ingress's
// spec.defaultBackend serves, and without one the answer is 404. Backends
// resolve Service port (number or name) → EndpointSlice port of the same
// name → ready, non-terminating endpoints; none ready, a missing Service
// or port, ExternalName Services and resource backends answer 503.
//
// Forwarding: endpoints are taken round-robin. A connection that fails
// before anything was sent (refused, unreachable, dial timeout) is retried
// on the next endpoint, for any method as long as no byte of the request
// body has been read, and the failed endpoint is passed over for a short
// while; http.Transport also replays requests whose body is still unread
// when a pooled keep-alive connection turns out to be closed. The Host
// header is kept; X-Forwarded-For, -Host, -Proto and -Port are set,
// replacing the client's (not trusted). Upgrade requests (WebSocket) and
// streams are passed through, streams of unknown length and event streams
// flushed at once. Pods that all fail answer 502 (504 on timeouts). The
// pooled keep-alive connections to pods idle out after 4 s, below the 5 s
// keep-alive timeout of common servers.
//
// TLS: spec.tls entries give hosts and a Secret with tls.crt and tls.key
// in the Ingress's namespace; the certificate is chosen by SNI, exact host
// then wildcard, else a self-signed default certificate made at start.
// Plain HTTP requests to hosts with TLS are served, not redirected (no
// ssl-redirect annotation, to keep it simple). HTTP/2 is offered over TLS.
//
// Each request is logged at info with method, host, path, status, bytes,
// duration, backend and endpoint. Not done here: writing Ingress
// status.loadBalancer and creating the IngressClass (the server does).
package ingress
