// Package pod is the agent's pod manager: the kubelet's pod lifecycle for
// the pods bound to its node, driven through CRI.
//
// It watches the pods whose spec.nodeName is the node and gives each one a
// worker goroutine that brings the runtime in line with the spec, as the
// kubelet's pod workers do: it admits the pod against the node's
// allocatable resources, makes the pod cgroup, the sandbox (network, DNS,
// hostname, port mappings), runs the init containers in order (sidecars
// alongside), then the containers (image pulls with back-off, command and
// environment with $(VAR) expansion, mounts, resources, security context,
// lifecycle hooks), restarts them by the restart policy with the
// kubelet's crash back-off, kills them on liveness failures, stops them
// gracefully when the pod is deleted, and reports the pod's status through
// the pods/status subresource exactly as the kubelet computes it. A
// relist of the runtime every second (the kubelet's PLEG) notices
// containers that exit.
//
// The manager keeps no state of its own on disk: after an agent restart it
// finds the sandboxes and containers by their labels (the kubelet's
// conventions, shared with the streaming server and stats) and adopts
// them; nothing that runs is restarted because the agent was.
package pod
