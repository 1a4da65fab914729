// Package framework is the scheduler's plugin framework: the extension-point
// interfaces (PreEnqueue, QueueSort, PreFilter, Filter, PostFilter, PreScore,
// Score, Reserve, Bind), the per-pod CycleState, the Status a plugin returns
// and the FitError that turns statuses into Kubernetes' "0/N nodes are
// available" message, the NodeInfo/PodInfo summaries the plugins read
// (requested resources, host ports, parsed affinity terms), the Snapshot of
// nodes a scheduling cycle works on, and Framework, which runs the plugins
// of a profile in order, with filtering and scoring spread over the cores.
package framework
