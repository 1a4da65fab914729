// Package podgc is berth's pod garbage collector, as Kubernetes'
// PodGC controller. Every check period it force-deletes (grace period 0,
// after marking them Failed):
//
//   - pods bound to nodes that no longer exist, once a node has been
//     missing from the informer for a quarantine time and a live GET
//     confirms it is gone (with the DisruptionTarget condition, reason
//     DeletionByPodGC) — this also frees terminating pods of dead nodes;
//   - terminating pods never scheduled to a node;
//   - terminating pods on NotReady nodes tainted
//     node.kubernetes.io/out-of-service;
//   - terminated (Succeeded or Failed) pods beyond the
//     terminated-pod-gc-threshold, evicted ones first, then oldest first.
package podgc
