// Package scheduler assigns pods to nodes, as kube-scheduler 1.33 does: it
// watches unscheduled pods through client-go informers, orders them in a
// scheduling queue (active, back-off and unschedulable pods), runs each one
// through a framework of plugins (PreFilter, Filter, PostFilter, PreScore,
// Score, Reserve, Bind) against a snapshot of a cache of nodes and the pods
// on them, assumes the chosen node at once so that the next pod sees it, and
// binds asynchronously through the pods/binding subresource.
//
// Pods that fit nowhere get the PodScheduled=False condition and a
// FailedScheduling event worded as Kubernetes words them; DefaultPreemption
// may evict lower-priority pods to make room. The pieces live in
// sub-packages: framework (plugin interfaces, node and pod information,
// statuses), queue, cache, and plugins/<name> (one folder per plugin).
package scheduler
