// Package server is the node agent's HTTPS endpoint, the kubelet's port
// 10250: the API server proxies `kubectl logs`, `exec`, `attach`,
// `port-forward` and `cp` to it, and reads the node's stats summary from it.
//
// Logs are read from the CRI log files of the containers; exec, attach and
// port-forward ask the container runtime (CRI Exec, Attach, PortForward)
// for a URL of its streaming server and proxy the upgraded connection
// (SPDY, or the runtime's WebSocket channel protocols) to it unchanged.
// Containers and sandboxes are found through the labels the pod manager
// sets, as the kubelet's are (io.kubernetes.pod.name, ...).
//
// Only the API server may call it: clients must present a certificate of
// the cluster CA whose common name is kube-apiserver-kubelet-client (or of
// the system:masters group).
package server
