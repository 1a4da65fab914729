// Package stats measures what runs on a node — the node itself, each pod and
// each running container — and reports it in the shape of the kubelet's
// Summary API (/stats/summary, k8s.io/kubelet/pkg/apis/stats/v1alpha1), which
// `kubectl top` (through metrics-server) and the autoscalers read.
//
// Pod and container figures come from the container runtime through CRI
// (ListPodSandboxStats, which reads the pod cgroups, or ListContainerStats
// when a runtime lacks it); node figures come from the root cgroup or /proc.
// CPU usage in nanocores is a rate, so it needs two samples: a Collector
// keeps recent samples (Run takes one every Interval) and derives
// usageNanoCores from the cumulative usageCoreNanoSeconds.
package stats
