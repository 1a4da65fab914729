package queue

import (
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"berth/scheduler/framework"
	"berth/scheduler/plugins/queuesort"
	"berth/scheduler/plugins/schedulinggates"
	st "berth/scheduler/schedtest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestQueue(clock *fakeClock) *Queue {
	gates := schedulinggates.SchedulingGates{}
	return New(Config{
		Less:       queuesort.PrioritySort{}.Less,
		PreEnqueue: func(p *v1.Pod) *framework.Status { return gates.PreEnqueue(nil, p) },
		PluginEvents: map[string][]framework.ClusterEvent{
			"NodeResourcesFit": {{Resource: framework.Node, ActionType: framework.Add}, {Resource: framework.Pod, ActionType: framework.Delete}},
			"InterPodAffinity": {{Resource: framework.Pod, ActionType: framework.Add}},
		},
		Now: clock.Now,
	})
}

func pop(t *testing.T, q *Queue) *framework.QueuedPodInfo {
	t.Helper()
	done := make(chan *framework.QueuedPodInfo, 1)
	go func() {
		pi, err := q.Pop()
		if err != nil {
			done <- nil
			return
		}
		done <- pi
	}()
	select {
	case pi := <-done:
		return pi
	case <-time.After(2 * time.Second):
		t.Fatal("Pop blocked")
		return nil
	}
}

func TestQueueOrderPriorityThenTime(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	add := func(name string, prio int32) {
		q.Add(st.MakePod().Name(name).Priority(prio).Obj())
		clock.Step(time.Millisecond)
	}
	add("low-1", 1)
	add("high-1", 10)
	add("low-2", 1)
	add("high-2", 10)
	add("mid", 5)
	var got []string
	for i := 0; i < 5; i++ {
		got = append(got, pop(t, q).Pod.Name)
	}
	want := []string{"high-1", "high-2", "mid", "low-1", "low-2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestBackoffDoublesToTheMaximum(t *testing.T) {
	q := newTestQueue(&fakeClock{})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 10: 10 * time.Second} {
		if got := q.backoffDuration(&framework.QueuedPodInfo{Attempts: attempts}); got != want {
			t.Errorf("attempt %d: back-off %v, want %v", attempts, got, want)
		}
	}
}

func TestErrorGoesToBackoffThenActive(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("p").Obj())
	pi := pop(t, q)
	// No rejecting plugins: an error, retried after the back-off.
	if err := q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	if a, b, u := q.Pending(); len(a) != 0 || len(b) != 1 || len(u) != 0 {
		t.Fatalf("queues %d/%d/%d, want the pod in back-off", len(a), len(b), len(u))
	}
	clock.Step(500 * time.Millisecond)
	q.flushBackoffCompleted()
	if a, _, _ := q.Pending(); len(a) != 0 {
		t.Fatal("moved before its 1s back-off ended")
	}
	clock.Step(600 * time.Millisecond)
	q.flushBackoffCompleted()
	if a, _, _ := q.Pending(); len(a) != 1 {
		t.Fatal("not moved after its back-off")
	}
	if got := pop(t, q); got.Attempts != 2 {
		t.Errorf("attempts %d, want 2", got.Attempts)
	}
	if err := q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	if err := q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle()); err == nil {
		t.Error("a pod was added twice")
	}
}

func TestUnschedulableMovesOnRelevantEvents(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("fit").Obj())
	q.Add(st.MakePod().Name("affinity").Obj())
	fit, aff := pop(t, q), pop(t, q)
	cycle := q.SchedulingCycle()
	fit.UnschedulablePlugins = sets.New("NodeResourcesFit")
	aff.UnschedulablePlugins = sets.New("InterPodAffinity")
	for _, pi := range []*framework.QueuedPodInfo{fit, aff} {
		if err := q.AddUnschedulableIfNotPresent(pi, cycle); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, u := q.Pending(); len(u) != 2 {
		t.Fatalf("%d unschedulable, want 2", len(u))
	}
	// A pod bound elsewhere matters to inter-pod affinity only.
	clock.Step(2 * time.Second) // past the first back-off
	q.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodAdd())
	a, _, u := q.Pending()
	if len(a) != 1 || a[0].Name != "affinity" || len(u) != 1 {
		t.Fatalf("after a pod add: active %v, %d unschedulable", names(a), len(u))
	}
	// A new node matters to the resource fit.
	q.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd())
	if a, _, u := q.Pending(); len(a) != 2 || len(u) != 0 {
		t.Fatalf("after a node add: active %v, %d unschedulable", names(a), len(u))
	}
}

func TestMoveDuringBackoffGoesToBackoffQueue(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("p").Obj())
	pi := pop(t, q)
	pi.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle())
	q.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd())
	if a, b, _ := q.Pending(); len(a) != 0 || len(b) != 1 {
		t.Fatalf("moved while backing off: active %d backoff %d", len(a), len(b))
	}
}

func TestEventDuringAttemptSkipsParking(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("p").Obj())
	pi := pop(t, q)
	cycle := q.SchedulingCycle()
	// A node is added while the pod is being scheduled: it may fit now.
	q.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd())
	pi.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.AddUnschedulableIfNotPresent(pi, cycle)
	if _, b, u := q.Pending(); len(b) != 1 || len(u) != 0 {
		t.Fatalf("backoff %d unschedulable %d: a pod that missed an event was parked", len(b), len(u))
	}
}

func TestUnschedulableLeftoverFlush(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("p").Obj())
	pi := pop(t, q)
	pi.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle())
	clock.Step(4 * time.Minute)
	q.flushUnschedulableLeftover()
	if _, _, u := q.Pending(); len(u) != 1 {
		t.Fatal("flushed before five minutes")
	}
	clock.Step(2 * time.Minute)
	q.flushUnschedulableLeftover()
	if a, _, u := q.Pending(); len(a) != 1 || len(u) != 0 {
		t.Fatal("not flushed after five minutes")
	}
}

func TestSchedulingGates(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	gated := st.MakePod().Name("g").SchedulingGates("example.com/wait").Obj()
	q.Add(gated)
	if a, _, u := q.Pending(); len(a) != 0 || len(u) != 1 {
		t.Fatal("a gated pod entered the active queue")
	}
	q.MoveAllToActiveOrBackoffQueue(framework.EventUnschedulableTimeout())
	clock.Step(10 * time.Minute)
	q.flushUnschedulableLeftover()
	if a, _, _ := q.Pending(); len(a) != 0 {
		t.Fatal("a gated pod was moved by an event")
	}
	open := gated.DeepCopy()
	open.Spec.SchedulingGates = nil
	open.ResourceVersion = "2"
	q.Update(gated, open)
	if a, _, u := q.Pending(); len(a) != 1 || len(u) != 0 {
		t.Fatal("an ungated pod did not enter the active queue")
	}
}

func TestUpdateAndDelete(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	p := st.MakePod().Name("p").Obj()
	q.Add(p)
	pi := pop(t, q)
	pi.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.AddUnschedulableIfNotPresent(pi, q.SchedulingCycle())
	clock.Step(time.Minute)
	// A status-only update leaves it parked; a spec change retries it.
	statusOnly := p.DeepCopy()
	statusOnly.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	statusOnly.ResourceVersion = "2"
	q.Update(p, statusOnly)
	if _, _, u := q.Pending(); len(u) != 1 {
		t.Fatal("a status update moved the pod")
	}
	relabelled := statusOnly.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}
	q.Update(statusOnly, relabelled)
	if a, _, _ := q.Pending(); len(a) != 1 || a[0].Labels["a"] != "b" {
		t.Fatal("a spec update did not retry the pod")
	}
	q.Delete(relabelled)
	if a, b, u := q.Pending(); len(a)+len(b)+len(u) != 0 {
		t.Fatal("deleted pod still queued")
	}
}

func TestNominator(t *testing.T) {
	q := newTestQueue(&fakeClock{})
	p := st.MakePod().Name("p").Priority(10).Obj()
	q.AddNominatedPod(framework.NewPodInfo(p), &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: "n1"})
	if got := q.NominatedPodsForNode("n1"); len(got) != 1 || !q.HasNominatedPods() {
		t.Fatalf("nominated %d", len(got))
	}
	// An update that does not carry the nomination keeps it.
	upd := p.DeepCopy()
	upd.Labels = map[string]string{"x": "y"}
	q.nominator.update(p, framework.NewPodInfo(upd))
	if got := q.NominatedPodsForNode("n1"); len(got) != 1 || got[0].Pod.Labels["x"] != "y" {
		t.Fatal("nomination lost on update")
	}
	// A nomination moves.
	q.AddNominatedPod(framework.NewPodInfo(upd), &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: "n2"})
	if len(q.NominatedPodsForNode("n1")) != 0 || len(q.NominatedPodsForNode("n2")) != 1 {
		t.Fatal("nomination not moved")
	}
	q.DeleteNominatedPodIfExists(upd)
	if q.HasNominatedPods() {
		t.Fatal("nomination not deleted")
	}
}

func TestPopWaitsAndCloses(t *testing.T) {
	q := newTestQueue(&fakeClock{})
	got := make(chan string, 1)
	go func() {
		pi, err := q.Pop()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- pi.Pod.Name
	}()
	time.Sleep(20 * time.Millisecond)
	q.Add(st.MakePod().Name("late").Obj())
	if name := <-got; name != "late" {
		t.Fatalf("popped %q", name)
	}
	go func() {
		_, err := q.Pop()
		got <- fmt.Sprint(err)
	}()
	q.Close()
	if msg := <-got; msg != ErrClosed.Error() {
		t.Fatalf("Pop after Close: %s", msg)
	}
}

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestIrrelevantEventDuringAttemptParks(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	q := newTestQueue(clock)
	q.Add(st.MakePod().Name("p").Obj())
	pi := pop(t, q)
	cycle := q.SchedulingCycle()
	// A pod bound elsewhere does not help a pod short of resources.
	q.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodAdd())
	pi.UnschedulablePlugins = sets.New("NodeResourcesFit")
	q.AddUnschedulableIfNotPresent(pi, cycle)
	if _, b, u := q.Pending(); len(b) != 0 || len(u) != 1 {
		t.Fatalf("backoff %d unschedulable %d, want the pod parked", len(b), len(u))
	}
	if len(q.events) != 0 {
		t.Errorf("%d events kept with no pod in flight", len(q.events))
	}
}
