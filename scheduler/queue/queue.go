package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"

	"berth/scheduler/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue is closed")

// Config configures a Queue.
type Config struct {
	// Less orders the active queue (the QueueSort plugin). Required.
	Less func(a, b *framework.QueuedPodInfo) bool
	// PreEnqueue keeps a pod out of the active queue while it returns a
	// non-success status (scheduling gates). Optional.
	PreEnqueue func(pod *v1.Pod) *framework.Status
	// PluginEvents lists, by plugin, the cluster events that may make a
	// pod the plugin rejected schedulable.
	PluginEvents map[string][]framework.ClusterEvent
	// PodExists reports whether a pod still exists and is unassigned;
	// pods that do not are not nominated. Optional.
	PodExists func(pod *v1.Pod) bool
	// InitialBackoff is the back-off after a pod's first failed attempt;
	// it doubles with each attempt up to MaxBackoff. Defaults 1s and 10s.
	InitialBackoff, MaxBackoff time.Duration
	// MaxInUnschedulable is how long an unschedulable pod waits for a
	// relevant event before it is retried anyway. Default 5 minutes.
	MaxInUnschedulable time.Duration
	// BackoffFlushInterval is how often pods whose back-off ended move to
	// the active queue (default 1s); UnschedulableFlushInterval how often
	// MaxInUnschedulable is checked (default 30s).
	BackoffFlushInterval, UnschedulableFlushInterval time.Duration
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.InitialBackoff == 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxInUnschedulable == 0 {
		c.MaxInUnschedulable = 5 * time.Minute
	}
	if c.BackoffFlushInterval == 0 {
		c.BackoffFlushInterval = time.Second
	}
	if c.UnschedulableFlushInterval == 0 {
		c.UnschedulableFlushInterval = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Queue is the scheduling queue of kube-scheduler: an active queue in
// QueueSort order, a back-off queue of pods waiting out their back-off
// (1s doubling to 10s by attempt), and the unschedulable pods, parked until
// a cluster event one of the plugins that rejected them cares about (or
// MaxInUnschedulable passes). Pods held by PreEnqueue plugins (scheduling
// gates) wait with the unschedulable ones until an update releases them.
type Queue struct {
	cfg  Config
	mu   sync.Mutex
	cond *sync.Cond

	active        *podHeap
	backoff       *podHeap
	unschedulable map[string]*framework.QueuedPodInfo
	inFlight      map[string]int64 // popped pods → their scheduling cycle
	// events are the cluster events seen while pods were in flight, so
	// that a pod that failed is retried rather than parked when one of
	// them may have made it schedulable.
	events []inFlightEvent

	schedulingCycle int64
	closed          bool

	nominator *nominator
}

var _ framework.PodNominator = (*Queue)(nil)

// New returns an empty queue.
func New(cfg Config) *Queue {
	cfg.defaults()
	q := &Queue{
		cfg:           cfg,
		active:        newPodHeap(cfg.Less),
		unschedulable: map[string]*framework.QueuedPodInfo{},
		inFlight:      map[string]int64{},
		nominator:     newNominator(cfg.PodExists),
	}
	q.backoff = newPodHeap(func(a, b *framework.QueuedPodInfo) bool {
		return q.backoffTime(a).Before(q.backoffTime(b))
	})
	q.cond = sync.NewCond(&q.mu)
	return q
}

func key(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Run moves pods whose back-off ended to the active queue every second,
// and pods unschedulable for too long every 30 seconds, until ctx ends;
// then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	b := time.NewTicker(q.cfg.BackoffFlushInterval)
	u := time.NewTicker(q.cfg.UnschedulableFlushInterval)
	defer b.Stop()
	defer u.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-b.C:
			q.flushBackoffCompleted()
		case <-u.C:
			q.flushUnschedulableLeftover()
		}
	}
}

// Close wakes Pop up with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

func (q *Queue) newQueuedPodInfo(pod *v1.Pod) *framework.QueuedPodInfo {
	return &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(pod), Timestamp: q.cfg.Now()}
}

// Add queues a new pending pod.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveToActive(q.newQueuedPodInfo(pod))
}

// moveToActive puts a pod in the active queue, or with the unschedulable
// pods while a PreEnqueue plugin holds it.
func (q *Queue) moveToActive(pi *framework.QueuedPodInfo) bool {
	k := key(pi.Pod)
	pi.Gated = q.cfg.PreEnqueue != nil && !q.cfg.PreEnqueue(pi.Pod).IsSuccess()
	if pi.Gated {
		if _, ok := q.active.Get(k); ok {
			return false
		}
		if _, ok := q.backoff.Get(k); ok {
			return false
		}
		q.unschedulable[k] = pi
		return false
	}
	q.active.AddOrUpdate(pi)
	delete(q.unschedulable, k)
	q.backoff.Delete(k)
	q.nominator.add(pi.PodInfo, nil)
	q.cond.Broadcast()
	return true
}

// Update follows an update of a pending pod.
func (q *Queue) Update(old, cur *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(cur)
	if pi, ok := q.active.Get(k); ok {
		pi.PodInfo = framework.NewPodInfo(cur)
		q.nominator.update(old, pi.PodInfo)
		q.active.AddOrUpdate(pi)
		return
	}
	if pi, ok := q.backoff.Get(k); ok {
		pi.PodInfo = framework.NewPodInfo(cur)
		q.nominator.update(old, pi.PodInfo)
		q.backoff.AddOrUpdate(pi)
		return
	}
	if pi, ok := q.unschedulable[k]; ok {
		pi.PodInfo = framework.NewPodInfo(cur)
		q.nominator.update(old, pi.PodInfo)
		if !podUpdated(old, cur) {
			return
		}
		if pi.Gated || !q.backingOff(pi) {
			q.moveToActive(pi)
			return
		}
		delete(q.unschedulable, k)
		q.backoff.AddOrUpdate(pi)
		return
	}
	if _, ok := q.inFlight[k]; ok {
		// Being scheduled: the failure handler reads the latest version;
		// make it retry rather than park the pod.
		q.recordEvent(framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.All, Label: "InFlightPodUpdate"})
		return
	}
	q.moveToActive(q.newQueuedPodInfo(cur))
}

// podUpdated is true when more than the status, resource version or
// managed fields changed.
func podUpdated(old, cur *v1.Pod) bool {
	strip := func(p *v1.Pod) *v1.Pod {
		c := *p
		c.ObjectMeta.ResourceVersion = ""
		c.ObjectMeta.Generation = 0
		c.ObjectMeta.ManagedFields = nil
		c.ObjectMeta.Finalizers = nil
		c.Status = v1.PodStatus{ResourceClaimStatuses: p.Status.ResourceClaimStatuses}
		return &c
	}
	return !reflect.DeepEqual(strip(old), strip(cur))
}

// Delete forgets a pod.
func (q *Queue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(pod)
	q.nominator.delete(pod)
	q.active.Delete(k)
	q.backoff.Delete(k)
	delete(q.unschedulable, k)
}

// Pop waits for a pod in the active queue and returns it; the pod is "in
// flight" until AddUnschedulableIfNotPresent or Done.
func (q *Queue) Pop() (*framework.QueuedPodInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed {
			return nil, ErrClosed
		}
		q.cond.Wait()
	}
	pi := q.active.Pop()
	pi.Attempts++
	q.schedulingCycle++
	if pi.InitialAttemptTimestamp.IsZero() {
		pi.InitialAttemptTimestamp = q.cfg.Now()
	}
	pi.UnschedulablePlugins = nil
	q.inFlight[key(pi.Pod)] = q.schedulingCycle
	return pi, nil
}

// Done ends a popped pod's flight (it was assumed, or dropped).
func (q *Queue) Done(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.land(key(pod))
}

// inFlightEvent is a cluster event and the scheduling cycle it happened
// in.
type inFlightEvent struct {
	cycle int64
	event framework.ClusterEvent
}

func (q *Queue) recordEvent(ev framework.ClusterEvent) {
	if len(q.inFlight) > 0 {
		q.events = append(q.events, inFlightEvent{cycle: q.schedulingCycle, event: ev})
	}
}

// land ends a pod's flight and forgets the events no pod in flight can
// have missed.
func (q *Queue) land(k string) {
	delete(q.inFlight, k)
	if len(q.inFlight) == 0 {
		clear(q.events)
		q.events = q.events[:0]
		return
	}
	oldest := int64(-1)
	for _, c := range q.inFlight {
		if oldest < 0 || c < oldest {
			oldest = c
		}
	}
	i := 0
	for i < len(q.events) && q.events[i].cycle < oldest {
		i++
	}
	q.events = append(q.events[:0], q.events[i:]...)
}

// missedEvent is true when an event that may help the pod happened since
// its attempt started.
func (q *Queue) missedEvent(pi *framework.QueuedPodInfo, cycle int64) bool {
	for _, e := range q.events {
		if e.cycle >= cycle && q.matches(pi, e.event) {
			return true
		}
	}
	return false
}

// SchedulingCycle is the number of pods popped so far.
func (q *Queue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// AddUnschedulableIfNotPresent puts back a pod whose attempt (in
// podSchedulingCycle) failed: to the back-off queue when it failed for an
// error, or when the cluster changed during its attempt in a way that may
// help it; otherwise with the unschedulable pods.
func (q *Queue) AddUnschedulableIfNotPresent(pi *framework.QueuedPodInfo, podSchedulingCycle int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(pi.Pod)
	missed := q.missedEvent(pi, podSchedulingCycle)
	q.land(k)
	if _, ok := q.active.Get(k); ok {
		return fmt.Errorf("pod %s is already present in the active queue", k)
	}
	if _, ok := q.backoff.Get(k); ok {
		return fmt.Errorf("pod %s is already present in the backoff queue", k)
	}
	if _, ok := q.unschedulable[k]; ok {
		return fmt.Errorf("pod %s is already present in the unschedulable queue", k)
	}
	pi.Timestamp = q.cfg.Now()
	if missed || len(pi.UnschedulablePlugins) == 0 {
		q.backoff.AddOrUpdate(pi)
	} else {
		q.unschedulable[k] = pi
	}
	q.nominator.add(pi.PodInfo, nil)
	return nil
}

// MoveAllToActiveOrBackoffQueue retries the unschedulable pods rejected by
// a plugin that cares about the event: to the active queue, or the back-off
// queue while their back-off lasts.
func (q *Queue) MoveAllToActiveOrBackoffQueue(event framework.ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveLocked(event, func(pi *framework.QueuedPodInfo) bool { return true })
}

func (q *Queue) moveLocked(event framework.ClusterEvent, pick func(*framework.QueuedPodInfo) bool) {
	moved := 0
	for k, pi := range q.unschedulable {
		if pi.Gated || !pick(pi) || !q.matches(pi, event) {
			continue
		}
		delete(q.unschedulable, k)
		if q.backingOff(pi) {
			q.backoff.AddOrUpdate(pi)
		} else {
			q.active.AddOrUpdate(pi)
		}
		moved++
	}
	q.recordEvent(event)
	if moved > 0 {
		q.cfg.Logger.Debug("pods moved for retry", "event", event.Label, "pods", moved)
		q.cond.Broadcast()
	}
}

// matches is true when a plugin that rejected the pod registered an event
// matching ev.
func (q *Queue) matches(pi *framework.QueuedPodInfo, ev framework.ClusterEvent) bool {
	if ev.Resource == framework.WildCard && ev.ActionType == framework.All {
		return true
	}
	if len(pi.UnschedulablePlugins) == 0 {
		return true
	}
	for pl := range pi.UnschedulablePlugins {
		for _, reg := range q.cfg.PluginEvents[pl] {
			if reg.Match(ev) {
				return true
			}
		}
	}
	return false
}

// backoffDuration is InitialBackoff doubled for each attempt after the
// first, at most MaxBackoff.
func (q *Queue) backoffDuration(pi *framework.QueuedPodInfo) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < pi.Attempts; i++ {
		if d > q.cfg.MaxBackoff-d {
			return q.cfg.MaxBackoff
		}
		d += d
	}
	return d
}

func (q *Queue) backoffTime(pi *framework.QueuedPodInfo) time.Time {
	return pi.Timestamp.Add(q.backoffDuration(pi))
}

func (q *Queue) backingOff(pi *framework.QueuedPodInfo) bool {
	return q.backoffTime(pi).After(q.cfg.Now())
}

// flushBackoffCompleted moves the pods whose back-off ended to the active
// queue.
func (q *Queue) flushBackoffCompleted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := false
	for {
		pi := q.backoff.Peek()
		if pi == nil || q.backingOff(pi) {
			break
		}
		q.backoff.Pop()
		q.active.AddOrUpdate(pi)
		moved = true
	}
	if moved {
		q.cond.Broadcast()
	}
}

// flushUnschedulableLeftover retries the pods unschedulable for longer than
// MaxInUnschedulable.
func (q *Queue) flushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Now()
	q.moveLocked(framework.EventUnschedulableTimeout(), func(pi *framework.QueuedPodInfo) bool {
		return now.Sub(pi.Timestamp) > q.cfg.MaxInUnschedulable
	})
}

// Pending returns the pods waiting in each part of the queue.
func (q *Queue) Pending() (active, backoff, unschedulable []*v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, pi := range q.active.List() {
		active = append(active, pi.Pod)
	}
	for _, pi := range q.backoff.List() {
		backoff = append(backoff, pi.Pod)
	}
	for _, pi := range q.unschedulable {
		unschedulable = append(unschedulable, pi.Pod)
	}
	return active, backoff, unschedulable
}

// AddNominatedPod records the node a pod is nominated to (ModeOverride),
// or the one in its status.
func (q *Queue) AddNominatedPod(pi *framework.PodInfo, ni *framework.NominatingInfo) {
	q.nominator.add(pi, ni)
}

// DeleteNominatedPodIfExists forgets a pod's nomination.
func (q *Queue) DeleteNominatedPodIfExists(pod *v1.Pod) { q.nominator.delete(pod) }

// NominatedPodsForNode returns the pods nominated to a node.
func (q *Queue) NominatedPodsForNode(node string) []*framework.PodInfo {
	return q.nominator.NominatedPodsForNode(node)
}

// HasNominatedPods is true when some pod is nominated.
func (q *Queue) HasNominatedPods() bool { return q.nominator.HasNominatedPods() }
