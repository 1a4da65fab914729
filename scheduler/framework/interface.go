package framework

import (
	"context"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
)

// MaxNodeScore is the highest score a Score plugin gives (after
// normalization); MinNodeScore the lowest.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is a scheduling plugin.
type Plugin interface {
	Name() string
}

// PreEnqueuePlugin decides whether a pod may enter the active queue.
type PreEnqueuePlugin interface {
	Plugin
	PreEnqueue(ctx context.Context, pod *v1.Pod) *Status
}

// QueueSortPlugin orders the active queue.
type QueueSortPlugin interface {
	Plugin
	Less(a, b *QueuedPodInfo) bool
}

// PreFilterPlugin runs once per cycle before filtering; it may narrow the
// nodes (PreFilterResult) or reject the pod outright.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod) (*PreFilterResult, *Status)
	// PreFilterExtensions returns nil or the AddPod/RemovePod hooks that
	// keep the plugin's state right when pods are added to or removed
	// from a node in a what-if evaluation.
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions update a PreFilter plugin's state for what-if
// evaluations (nominated pods, preemption).
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether a pod can run on a node. Filter is called
// for many nodes at once.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterPlugin runs when a pod fits no node (preemption).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, statuses *NodeToStatus) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once per cycle before scoring the feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks feasible nodes. Score is called for many nodes at
// once.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	// ScoreExtensions returns nil or the NormalizeScore hook.
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalizes a plugin's scores to [0, MaxNodeScore].
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores NodeScoreList) *Status
}

// ReservePlugin is told when a node is chosen for a pod, and when the
// choice is undone.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// BindPlugin binds a pod to a node. It returns Skip to let the next
// binder do it.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// EnqueueExtensions lists the cluster events that may make a pod this
// plugin rejected schedulable: the queue retries the pod on them.
type EnqueueExtensions interface {
	EventsToRegister() []ClusterEvent
}

// PreFilterResult narrows the nodes to evaluate; nil means all nodes.
type PreFilterResult struct {
	NodeNames sets.Set[string]
}

// AllNodes is true when the result does not narrow the nodes.
func (r *PreFilterResult) AllNodes() bool { return r == nil || r.NodeNames == nil }

// Merge intersects two results.
func (r *PreFilterResult) Merge(o *PreFilterResult) *PreFilterResult {
	switch {
	case r.AllNodes() && o.AllNodes():
		return nil
	case r.AllNodes():
		return o
	case o.AllNodes():
		return r
	}
	return &PreFilterResult{NodeNames: r.NodeNames.Intersection(o.NodeNames)}
}

// NominatingMode says what to do with a pod's nominated node.
type NominatingMode int

const (
	// ModeNoop keeps the nominated node as it is.
	ModeNoop NominatingMode = iota
	// ModeOverride sets it (possibly to "").
	ModeOverride
)

// NominatingInfo is the nominated node a PostFilter plugin chose.
type NominatingInfo struct {
	NominatedNodeName string
	NominatingMode    NominatingMode
}

// Mode is the mode; nil is ModeNoop.
func (n *NominatingInfo) Mode() NominatingMode {
	if n == nil {
		return ModeNoop
	}
	return n.NominatingMode
}

// PostFilterResult is what a PostFilter plugin achieved.
type PostFilterResult struct {
	*NominatingInfo
}

// NewPostFilterResultWithNominatedNode nominates a node ("" clears).
func NewPostFilterResultWithNominatedNode(name string) *PostFilterResult {
	return &PostFilterResult{NominatingInfo: &NominatingInfo{NominatedNodeName: name, NominatingMode: ModeOverride}}
}

// NodeScore is a node's score from one plugin.
type NodeScore struct {
	Name  string
	Score int64
}

// NodeScoreList is the scores of the feasible nodes.
type NodeScoreList []NodeScore

// PodNominator knows the pods nominated to nodes by preemption.
type PodNominator interface {
	// NominatedPodsForNode returns the pods nominated to a node.
	NominatedPodsForNode(nodeName string) []*PodInfo
	// HasNominatedPods is true when some pod is nominated.
	HasNominatedPods() bool
}

// Handle is what plugins get from the framework.
type Handle interface {
	// SnapshotSharedLister gives the nodes of the current cycle.
	SnapshotSharedLister() NodeInfoLister
	// ClientSet is the API client.
	ClientSet() kubernetes.Interface
	// SharedInformerFactory gives listers; plugins ask for the informers
	// they need when they are built.
	SharedInformerFactory() informers.SharedInformerFactory
	// EventRecorder records events.k8s.io events.
	EventRecorder() events.EventRecorder
	// Parallelizer runs work on all cores.
	Parallelizer() Parallelizer
	// PodNominator gives the nominated pods.
	PodNominator() PodNominator
	// RunFilterPluginsWithNominatedPods filters a node as the scheduler
	// does, counting the pods nominated to it with at least the pod's
	// priority.
	RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, info *NodeInfo) *Status
	// RunPreFilterExtensionAddPod and RunPreFilterExtensionRemovePod
	// update the PreFilter plugins' state for a what-if change.
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
	// Logger is the scheduler's logger.
	Logger() *slog.Logger
	// Now is the clock.
	Now() time.Time
}
