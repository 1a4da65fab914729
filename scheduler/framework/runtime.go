package framework

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
)

// PluginFactory builds a plugin. It must ask the handle's informer
// factory for the informers it needs (listers) while it runs.
type PluginFactory func(h Handle) (Plugin, error)

// PluginSpec is a plugin of a profile: its factory and, for Score
// plugins, its weight.
type PluginSpec struct {
	New    PluginFactory
	Weight int64
}

// Options are what the framework gives plugins through Handle.
type Options struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Recorder  events.EventRecorder
	// Snapshot is the nodes of the current cycle.
	Snapshot  NodeInfoLister
	Nominator PodNominator
	// Parallelism is the number of goroutines filtering and scoring
	// nodes; default 1.
	Parallelism int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Framework runs the plugins of a profile at each extension point, in the
// order they were given.
type Framework struct {
	opts Options

	queueSort   QueueSortPlugin
	preEnqueue  []PreEnqueuePlugin
	preFilter   []PreFilterPlugin
	filter      []FilterPlugin
	postFilter  []PostFilterPlugin
	preScore    []PreScorePlugin
	score       []ScorePlugin
	scoreWeight []int64
	reserve     []ReservePlugin
	bind        []BindPlugin
	events      map[string][]ClusterEvent

	filterIndex map[string]int
	scoreIndex  map[string]int

	// scoring buffers, reused from cycle to cycle (scoring runs on the
	// scheduling goroutine only).
	scoreMu  sync.Mutex
	scoreBuf []NodeScoreList
	totals   []int64
}

var _ Handle = (*Framework)(nil)

// New builds the plugins and sorts them by extension point.
func New(opts Options, specs []PluginSpec) (*Framework, error) {
	if opts.Parallelism < 1 {
		opts.Parallelism = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Framework{opts: opts, events: map[string][]ClusterEvent{}, filterIndex: map[string]int{}, scoreIndex: map[string]int{}}
	seen := sets.New[string]()
	for _, spec := range specs {
		p, err := spec.New(f)
		if err != nil {
			return nil, fmt.Errorf("build scheduler plugin: %w", err)
		}
		name := p.Name()
		if seen.Has(name) {
			return nil, fmt.Errorf("scheduler plugin %q given twice", name)
		}
		seen.Insert(name)
		if x, ok := p.(QueueSortPlugin); ok {
			if f.queueSort != nil {
				return nil, errors.New("more than one QueueSort plugin")
			}
			f.queueSort = x
		}
		if x, ok := p.(PreEnqueuePlugin); ok {
			f.preEnqueue = append(f.preEnqueue, x)
		}
		if x, ok := p.(PreFilterPlugin); ok {
			f.preFilter = append(f.preFilter, x)
		}
		if x, ok := p.(FilterPlugin); ok {
			f.filterIndex[name] = len(f.filter)
			f.filter = append(f.filter, x)
		}
		if x, ok := p.(PostFilterPlugin); ok {
			f.postFilter = append(f.postFilter, x)
		}
		if x, ok := p.(PreScorePlugin); ok {
			f.preScore = append(f.preScore, x)
		}
		if x, ok := p.(ScorePlugin); ok {
			w := spec.Weight
			if w == 0 {
				w = 1
			}
			f.scoreIndex[name] = len(f.score)
			f.score = append(f.score, x)
			f.scoreWeight = append(f.scoreWeight, w)
		}
		if x, ok := p.(ReservePlugin); ok {
			f.reserve = append(f.reserve, x)
		}
		if x, ok := p.(BindPlugin); ok {
			f.bind = append(f.bind, x)
		}
		if x, ok := p.(EnqueueExtensions); ok {
			f.events[name] = x.EventsToRegister()
		}
	}
	if f.queueSort == nil {
		return nil, errors.New("no QueueSort plugin")
	}
	if len(f.bind) == 0 {
		return nil, errors.New("no Bind plugin")
	}
	return f, nil
}

// Handle.

func (f *Framework) SnapshotSharedLister() NodeInfoLister                   { return f.opts.Snapshot }
func (f *Framework) ClientSet() kubernetes.Interface                        { return f.opts.Client }
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory { return f.opts.Informers }
func (f *Framework) EventRecorder() events.EventRecorder                    { return f.opts.Recorder }
func (f *Framework) Parallelizer() Parallelizer                             { return Parallelizer{Workers: f.opts.Parallelism} }
func (f *Framework) PodNominator() PodNominator                             { return f.opts.Nominator }
func (f *Framework) Logger() *slog.Logger                                   { return f.opts.Logger }
func (f *Framework) Now() time.Time                                         { return f.opts.Now() }

// SetNominator sets the pod nominator (the queue, built after the
// framework since it needs QueueSortLess).
func (f *Framework) SetNominator(n PodNominator) { f.opts.Nominator = n }

// EventsToRegister returns, by plugin, the events that may make the pods
// it rejected schedulable.
func (f *Framework) EventsToRegister() map[string][]ClusterEvent { return f.events }

// HasFilterPlugins is true when some Filter plugin is enabled.
func (f *Framework) HasFilterPlugins() bool { return len(f.filter) > 0 }

// HasScorePlugins is true when some Score plugin is enabled.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// HasPostFilterPlugins is true when some PostFilter plugin is enabled.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// QueueSortLess orders the active queue.
func (f *Framework) QueueSortLess(a, b *QueuedPodInfo) bool { return f.queueSort.Less(a, b) }

// RunPreEnqueuePlugins returns the first rejection of a PreEnqueue plugin.
func (f *Framework) RunPreEnqueuePlugins(ctx context.Context, pod *v1.Pod) *Status {
	for _, pl := range f.preEnqueue {
		if s := pl.PreEnqueue(ctx, pod); !s.IsSuccess() {
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunPreFilterPlugins runs the PreFilter plugins. A rejection ends the
// cycle; it returns the rejecting plugins. Plugins that return Skip are
// skipped at Filter.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod) (*PreFilterResult, *Status, sets.Set[string]) {
	state.skipFilter = make([]bool, len(f.filter))
	state.nominated = f.opts.Nominator != nil && f.opts.Nominator.HasNominatedPods()
	var result *PreFilterResult
	var narrowing []string
	for _, pl := range f.preFilter {
		r, s := pl.PreFilter(ctx, state, pod)
		if s.IsSkip() {
			if i, ok := f.filterIndex[pl.Name()]; ok {
				state.skipFilter[i] = true
			}
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				return nil, s.WithPlugin(pl.Name()), sets.New(pl.Name())
			}
			return nil, AsStatus(fmt.Errorf("running PreFilter plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name()), nil
		}
		if !r.AllNodes() {
			narrowing = append(narrowing, pl.Name())
		}
		result = result.Merge(r)
		if !result.AllNodes() && len(result.NodeNames) == 0 {
			msg := fmt.Sprintf("node(s) didn't satisfy plugin(s) %v simultaneously", narrowing)
			if len(narrowing) == 1 {
				msg = fmt.Sprintf("node(s) didn't satisfy plugin %v", narrowing[0])
			}
			return result, NewStatus(UnschedulableAndUnresolvable, msg), sets.New(narrowing...)
		}
	}
	return result, nil, nil
}

func (f *Framework) preFilterSkipped(state *CycleState, name string) bool {
	i, ok := f.filterIndex[name]
	return ok && state.skipFilter != nil && state.skipFilter[i]
}

// RunPreFilterExtensionAddPod tells the PreFilter plugins that a pod is
// added to a node in a what-if evaluation.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		ext := pl.PreFilterExtensions()
		if ext == nil || f.preFilterSkipped(state, pl.Name()) {
			continue
		}
		if s := ext.AddPod(ctx, state, podToSchedule, podInfoToAdd, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running AddPod on PreFilter plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod tells the PreFilter plugins that a pod is
// removed from a node in a what-if evaluation.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		ext := pl.PreFilterExtensions()
		if ext == nil || f.preFilterSkipped(state, pl.Name()) {
			continue
		}
		if s := ext.RemovePod(ctx, state, podToSchedule, podInfoToRemove, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running RemovePod on PreFilter plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunFilterPlugins runs the Filter plugins on a node and returns the
// first rejection (with the plugin's name).
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	for i, pl := range f.filter {
		if state.skipFilter != nil && state.skipFilter[i] {
			continue
		}
		if s := pl.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("running %q filter plugin: %w", pl.Name(), s.AsError()))
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods filters a node twice when pods with
// at least the pod's priority are nominated to it: with them (so that the
// room preemption made for them is kept) and, if that passes, without them
// (so that a pod with affinity to them is not admitted on their account).
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, info *NodeInfo) *Status {
	if !state.nominated {
		return f.RunFilterPlugins(ctx, state, pod, info)
	}
	added, stateWith, infoWith, err := f.addNominatedPods(ctx, state, pod, info)
	if err != nil {
		return AsStatus(err)
	}
	s := f.RunFilterPlugins(ctx, stateWith, pod, infoWith)
	if !added || !s.IsSuccess() {
		return s
	}
	return f.RunFilterPlugins(ctx, state, pod, info)
}

func (f *Framework) addNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, info *NodeInfo) (bool, *CycleState, *NodeInfo, error) {
	if f.opts.Nominator == nil || info.Node() == nil {
		return false, state, info, nil
	}
	nominated := f.opts.Nominator.NominatedPodsForNode(info.Node().Name)
	if len(nominated) == 0 {
		return false, state, info, nil
	}
	infoOut := info.Snapshot()
	stateOut := state.Clone()
	added := false
	prio := PodPriority(pod)
	for _, pi := range nominated {
		if PodPriority(pi.Pod) < prio || pi.Pod.UID == pod.UID {
			continue
		}
		infoOut.AddPodInfo(pi)
		if s := f.RunPreFilterExtensionAddPod(ctx, stateOut, pod, pi, infoOut); !s.IsSuccess() {
			return false, state, info, s.AsError()
		}
		added = true
	}
	return added, stateOut, infoOut, nil
}

// RunPostFilterPlugins runs the PostFilter plugins until one succeeds
// (preemption found room) or rejects for good.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, m *NodeToStatus) (*PostFilterResult, *Status) {
	var result *PostFilterResult
	var reasons []string
	rejector := ""
	for _, pl := range f.postFilter {
		r, s := pl.PostFilter(ctx, state, pod, m)
		switch {
		case s.IsSuccess():
			return r, s
		case s.Code() == UnschedulableAndUnresolvable:
			return r, s.WithPlugin(pl.Name())
		case !s.IsRejected():
			return nil, AsStatus(s.AsError()).WithPlugin(pl.Name())
		case r != nil && r.Mode() != ModeNoop:
			result = r
		}
		reasons = append(reasons, s.Reasons()...)
		if rejector == "" {
			rejector = pl.Name()
		}
	}
	return result, NewStatus(Unschedulable, reasons...).WithPlugin(rejector)
}

// RunPreScorePlugins runs the PreScore plugins; those returning Skip are
// skipped at Score.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	state.skipScore = make([]bool, len(f.score))
	for _, pl := range f.preScore {
		s := pl.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			if i, ok := f.scoreIndex[pl.Name()]; ok {
				state.skipScore[i] = true
			}
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running PreScore plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunScorePlugins scores the nodes with every Score plugin not skipped,
// normalizes each plugin's scores and returns the weighted sums, by node.
// The returned slice is reused by the next call.
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) ([]int64, *Status) {
	f.scoreMu.Lock()
	defer f.scoreMu.Unlock()
	active := make([]int, 0, len(f.score))
	for i := range f.score {
		if state.skipScore == nil || !state.skipScore[i] {
			active = append(active, i)
		}
	}
	if cap(f.totals) < len(nodes) {
		f.totals = make([]int64, len(nodes))
	}
	totals := f.totals[:len(nodes)]
	clear(totals)
	if len(active) == 0 {
		return totals, nil
	}
	for len(f.scoreBuf) < len(active) {
		f.scoreBuf = append(f.scoreBuf, nil)
	}
	for j := range active {
		if cap(f.scoreBuf[j]) < len(nodes) {
			f.scoreBuf[j] = make(NodeScoreList, len(nodes))
		}
		f.scoreBuf[j] = f.scoreBuf[j][:len(nodes)]
	}
	scores := f.scoreBuf[:len(active)]
	var errOnce sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.Parallelizer().Until(ctx, len(nodes), func(i int) {
		name := nodes[i].Node().Name
		for j, k := range active {
			s, st := f.score[k].Score(ctx, state, pod, nodes[i])
			if !st.IsSuccess() {
				errOnce.Do(func() {
					firstErr = fmt.Errorf("running Score plugin %q: %w", f.score[k].Name(), st.AsError())
					cancel()
				})
				return
			}
			scores[j][i] = NodeScore{Name: name, Score: s}
		}
	})
	if firstErr != nil {
		return nil, AsStatus(firstErr)
	}
	for j, k := range active {
		pl := f.score[k]
		if ext := pl.ScoreExtensions(); ext != nil {
			if s := ext.NormalizeScore(ctx, state, pod, scores[j]); !s.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("running Normalize on Score plugin %q: %w", pl.Name(), s.AsError()))
			}
		}
		w := f.scoreWeight[k]
		for i := range scores[j] {
			s := scores[j][i].Score
			if s < MinNodeScore || s > MaxNodeScore {
				return nil, AsStatus(fmt.Errorf("plugin %q returns an invalid score %v, it should in the range of [%v, %v] after normalizing", pl.Name(), s, MinNodeScore, MaxNodeScore))
			}
			totals[i] += s * w
		}
	}
	return totals, nil
}

// RunReservePluginsReserve runs the Reserve plugins.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.reserve {
		if s := pl.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("running Reserve plugin %q: %w", pl.Name(), s.AsError()))
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs the Unreserve hooks in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunBindPlugins binds the pod with the first Bind plugin that does not
// skip it.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.bind {
		s := pl.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(pl.Name())
			}
			return AsStatus(fmt.Errorf("running Bind plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
		return nil
	}
	return AsStatus(errors.New("no Bind plugin bound the pod"))
}
