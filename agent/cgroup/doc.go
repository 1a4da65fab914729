// Package cgroup manages the agent's pod-level cgroups on cgroupfs.
//
// The kubelet puts every pod in a cgroup of its own (the pod's sandbox and
// containers are created below it) and sets the pod's CPU and memory limits
// there, so that the pod as a whole, init containers and overhead included,
// stays within them. containerd 1.6 ignores the pod-level resources of CRI
// (LinuxPodSandboxConfig.Resources) and never removes a sandbox's parent
// cgroup, so the agent creates, sets and removes these cgroups itself. Both
// the cgroup v1 hierarchy (one directory tree per controller) and the
// unified v2 hierarchy are handled.
package cgroup
