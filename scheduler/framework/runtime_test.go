package framework

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	st "berth/scheduler/schedtest"
)

// fakePlugin implements every extension point with canned answers.
type fakePlugin struct {
	name      string
	preFilter *Status
	result    *PreFilterResult
	filter    map[string]*Status // by node
	preScore  *Status
	score     map[string]int64
	normalize bool
	bind      *Status
	calls     *[]string
}

func (p *fakePlugin) Name() string { return p.name }
func (p *fakePlugin) Less(a, b *QueuedPodInfo) bool {
	return a.Timestamp.Before(b.Timestamp)
}
func (p *fakePlugin) PreFilter(_ context.Context, _ *CycleState, _ *v1.Pod) (*PreFilterResult, *Status) {
	return p.result, p.preFilter
}
func (p *fakePlugin) PreFilterExtensions() PreFilterExtensions { return nil }
func (p *fakePlugin) Filter(_ context.Context, _ *CycleState, _ *v1.Pod, ni *NodeInfo) *Status {
	if p.calls != nil {
		*p.calls = append(*p.calls, p.name)
	}
	if s := p.filter[ni.Node().Name]; s != nil {
		return NewStatus(s.Code(), s.Reasons()...)
	}
	return nil
}
func (p *fakePlugin) PreScore(context.Context, *CycleState, *v1.Pod, []*NodeInfo) *Status {
	return p.preScore
}
func (p *fakePlugin) Score(_ context.Context, _ *CycleState, _ *v1.Pod, ni *NodeInfo) (int64, *Status) {
	return p.score[ni.Node().Name], nil
}
func (p *fakePlugin) ScoreExtensions() ScoreExtensions {
	if p.normalize {
		return p
	}
	return nil
}
func (p *fakePlugin) NormalizeScore(_ context.Context, _ *CycleState, _ *v1.Pod, s NodeScoreList) *Status {
	return DefaultNormalizeScore(MaxNodeScore, false, s)
}
func (p *fakePlugin) Bind(context.Context, *CycleState, *v1.Pod, string) *Status { return p.bind }

func mustFramework(t *testing.T, snap *Snapshot, plugins []*fakePlugin) *Framework {
	t.Helper()
	specs := []PluginSpec{{New: func(Handle) (Plugin, error) { return plugins[0], nil }, Weight: 1}}
	for i, p := range plugins[1:] {
		w := noSort{p}
		specs = append(specs, PluginSpec{New: func(Handle) (Plugin, error) { return w, nil }, Weight: int64(i + 2)})
	}
	f, err := New(Options{Snapshot: snap}, specs)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// noSort is a fakePlugin without Less.
type noSort struct{ p *fakePlugin }

func (n noSort) Name() string { return n.p.Name() }
func (n noSort) PreFilter(ctx context.Context, s *CycleState, pod *v1.Pod) (*PreFilterResult, *Status) {
	return n.p.PreFilter(ctx, s, pod)
}
func (n noSort) PreFilterExtensions() PreFilterExtensions { return nil }
func (n noSort) Filter(ctx context.Context, s *CycleState, pod *v1.Pod, ni *NodeInfo) *Status {
	return n.p.Filter(ctx, s, pod, ni)
}
func (n noSort) PreScore(ctx context.Context, s *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	return n.p.PreScore(ctx, s, pod, nodes)
}
func (n noSort) Score(ctx context.Context, s *CycleState, pod *v1.Pod, ni *NodeInfo) (int64, *Status) {
	return n.p.Score(ctx, s, pod, ni)
}
func (n noSort) ScoreExtensions() ScoreExtensions { return n.p.ScoreExtensions() }
func (n noSort) Bind(ctx context.Context, s *CycleState, pod *v1.Pod, node string) *Status {
	return n.p.Bind(ctx, s, pod, node)
}

func testSnapshot(names ...string) *Snapshot {
	var nodes []*v1.Node
	for _, n := range names {
		nodes = append(nodes, st.MakeNode().Name(n).Obj())
	}
	return NewSnapshot(nil, nodes)
}

func TestRunFilterPluginsStopsAtTheFirstRejection(t *testing.T) {
	snap := testSnapshot("a")
	var calls []string
	f := mustFramework(t, snap, []*fakePlugin{
		{name: "First", calls: &calls},
		{name: "Second", calls: &calls, filter: map[string]*Status{"a": NewStatus(UnschedulableAndUnresolvable, "nope")}},
		{name: "Third", calls: &calls, filter: map[string]*Status{"a": NewStatus(Unschedulable, "never asked")}},
	})
	state := NewCycleState()
	pod := st.MakePod().Name("p").Obj()
	if _, s, _ := f.RunPreFilterPlugins(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatal(s)
	}
	ni, _ := snap.Get("a")
	s := f.RunFilterPlugins(context.Background(), state, pod, ni)
	if s.Code() != UnschedulableAndUnresolvable || s.Message() != "nope" || s.Plugin() != "Second" {
		t.Errorf("status %v from %q", s, s.Plugin())
	}
	if len(calls) != 2 {
		t.Errorf("filters called: %v", calls)
	}
}

func TestPreFilterSkipAndReject(t *testing.T) {
	snap := testSnapshot("a")
	pod := st.MakePod().Name("p").Obj()
	ni, _ := snap.Get("a")
	f := mustFramework(t, snap, []*fakePlugin{
		{name: "Skipper", preFilter: NewStatus(Skip), filter: map[string]*Status{"a": NewStatus(Unschedulable, "skipped filter ran")}},
	})
	state := NewCycleState()
	f.RunPreFilterPlugins(context.Background(), state, pod)
	if s := f.RunFilterPlugins(context.Background(), state, pod, ni); !s.IsSuccess() {
		t.Errorf("a skipped filter ran: %v", s)
	}

	f = mustFramework(t, snap, []*fakePlugin{{name: "Rejecter", preFilter: NewStatus(Unschedulable, "no way")}})
	_, s, rejectors := f.RunPreFilterPlugins(context.Background(), NewCycleState(), pod)
	if s.Code() != Unschedulable || s.Plugin() != "Rejecter" || !rejectors.Has("Rejecter") {
		t.Errorf("status %v rejectors %v", s, rejectors)
	}

	f = mustFramework(t, snap, []*fakePlugin{
		{name: "A", result: &PreFilterResult{NodeNames: sets.New("a")}},
		{name: "B", result: &PreFilterResult{NodeNames: sets.New("b")}},
	})
	_, s, rejectors = f.RunPreFilterPlugins(context.Background(), NewCycleState(), pod)
	if s.Code() != UnschedulableAndUnresolvable || s.Message() != "node(s) didn't satisfy plugin(s) [A B] simultaneously" || rejectors.Len() != 2 {
		t.Errorf("disjoint results: %v %v", s, rejectors)
	}
}

func TestRunScorePluginsWeightsAndNormalizes(t *testing.T) {
	snap := testSnapshot("a", "b")
	pod := st.MakePod().Name("p").Obj()
	f := mustFramework(t, snap, []*fakePlugin{
		{name: "Raw", score: map[string]int64{"a": 10, "b": 20}},                        // weight 1
		{name: "Norm", score: map[string]int64{"a": 2, "b": 1}, normalize: true},        // weight 2
		{name: "Skipped", preScore: NewStatus(Skip), score: map[string]int64{"a": 100}}, // weight 3
	})
	state := NewCycleState()
	if s := f.RunPreScorePlugins(context.Background(), state, pod, snap.List()); !s.IsSuccess() {
		t.Fatal(s)
	}
	totals, s := f.RunScorePlugins(context.Background(), state, pod, snap.List())
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	// a: 10 + 2*100; b: 20 + 2*50.
	if totals[0] != 210 || totals[1] != 120 {
		t.Errorf("totals %v, want [210 120]", totals)
	}
	f = mustFramework(t, snap, []*fakePlugin{{name: "Bad", score: map[string]int64{"a": 101}}})
	state = NewCycleState()
	f.RunPreScorePlugins(context.Background(), state, pod, snap.List())
	if _, s := f.RunScorePlugins(context.Background(), state, pod, snap.List()); s.Code() != Error {
		t.Errorf("a score above 100 was accepted: %v", s)
	}
}

type fakeNominator map[string][]*PodInfo

func (n fakeNominator) NominatedPodsForNode(node string) []*PodInfo { return n[node] }
func (n fakeNominator) HasNominatedPods() bool                      { return len(n) > 0 }

// fitPlugin rejects nodes with more than max pods.
type fitPlugin struct{ max int }

func (fitPlugin) Name() string                                               { return "Fit" }
func (fitPlugin) Less(a, b *QueuedPodInfo) bool                              { return false }
func (fitPlugin) Bind(context.Context, *CycleState, *v1.Pod, string) *Status { return nil }
func (p fitPlugin) Filter(_ context.Context, _ *CycleState, _ *v1.Pod, ni *NodeInfo) *Status {
	if len(ni.Pods) >= p.max {
		return NewStatus(Unschedulable, "Too many pods")
	}
	return nil
}

func TestNominatedPodsKeepTheirRoom(t *testing.T) {
	snap := testSnapshot("a")
	ni, _ := snap.Get("a")
	high := NewPodInfo(st.MakePod().Name("high").Priority(100).Obj())
	nominator := fakeNominator{"a": {high}}
	f, err := New(Options{Snapshot: snap, Nominator: nominator}, []PluginSpec{{New: func(Handle) (Plugin, error) { return fitPlugin{max: 1}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prio int32
		fits bool
	}{{10, false}, {100, false}, {1000, true}} {
		pod := st.MakePod().Name("p").Priority(tc.prio).Obj()
		state := NewCycleState()
		f.RunPreFilterPlugins(context.Background(), state, pod)
		if got := f.RunFilterPluginsWithNominatedPods(context.Background(), state, pod, ni).IsSuccess(); got != tc.fits {
			t.Errorf("priority %d: fits %v, want %v", tc.prio, got, tc.fits)
		}
	}
	if len(ni.Pods) != 0 {
		t.Error("nominated pods were added to the snapshot itself")
	}
}
