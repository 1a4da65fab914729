// Package daemonset is the DaemonSet controller, as Kubernetes'
// pkg/controller/daemon: it keeps one pod of each DaemonSet on every node
// the pod fits (nodeName, nodeSelector, required node affinity, and taints
// against the pod's tolerations plus those Kubernetes gives every daemon
// pod). Pods are created without spec.nodeName but with a required node
// affinity on metadata.name, for the scheduler to bind them. A new node gets
// its pod; a pod on a node that no longer fits goes, and an unscheduled pod
// for a node that no longer exists goes (pods bound to a deleted node are
// the pod garbage collector's). Template changes roll out with
// maxUnavailable or maxSurge (RollingUpdate) or when the user deletes pods
// (OnDelete); each template is recorded as a ControllerRevision, and the
// status counts scheduled, ready, available, updated and misscheduled pods.
package daemonset
