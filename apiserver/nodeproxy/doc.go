// Package nodeproxy is the API server's side of the node agents' HTTPS
// endpoint: it serves pods/log, pods/exec, pods/attach, pods/portforward
// and nodes/proxy by finding the node a pod runs on, checking the request
// as Kubernetes does (container names, scheduling, container state), and
// forwarding it to that node's agent over HTTPS with the API server's
// client certificate — streaming logs as they come and handing upgraded
// connections (SPDY, WebSocket) through unchanged.
//
// kubectl 1.31 and later first try port-forward as SPDY tunnelled over a
// WebSocket (subprotocol SPDY/3.1+portforward.k8s.io): this package ends
// that WebSocket and speaks SPDY to the agent, as the Kubernetes API
// server's tunneling handler does. kubectl 1.30 and later first try exec,
// attach and cp over WebSocket v5.channel.k8s.io; container runtimes of
// the CRI streaming library (containerd 1.6) speak only versions 1 to 4,
// so the agent refuses those upgrades and kubectl falls back to SPDY.
package nodeproxy
