package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// execResult is what the fake exec returns for one call.
type execResult struct {
	out  string
	code int32
	err  error
}

// fakeExec is a Config.Exec whose answer the test sets.
type fakeExec struct {
	mu     sync.Mutex
	next   execResult
	calls  []execCall
	called chan struct{}
}

type execCall struct {
	containerID string
	cmd         []string
	timeout     time.Duration
}

func newFakeExec() *fakeExec { return &fakeExec{called: make(chan struct{}, 1000)} }

func (f *fakeExec) set(r execResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = r
}

func (f *fakeExec) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeExec) last() execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

func (f *fakeExec) exec(_ context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	f.mu.Lock()
	f.calls = append(f.calls, execCall{id, cmd, timeout})
	r := f.next
	f.mu.Unlock()
	f.called <- struct{}{}
	return []byte(r.out), r.code, r.err
}

// fakeNow is a settable clock.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

// execProbe is an exec probe with the given timing.
func execProbe(initialDelay, period, success, failure int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		InitialDelaySeconds: initialDelay, PeriodSeconds: period, TimeoutSeconds: 1,
		SuccessThreshold: success, FailureThreshold: failure,
	}
}

// testPod is a pod with one container "app".
func testPod(startup, liveness, readiness *corev1.Probe) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metaPod("p", "u1"),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", StartupProbe: startup, LivenessProbe: liveness, ReadinessProbe: readiness,
		}}},
	}
}

func metaPod(name string, uid types.UID) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid, ResourceVersion: "7"}
}

var quiet = slog.New(slog.DiscardHandler)

// equalResults compares results, and their grace periods by value.
func equalResults(a, b Result) bool {
	ga, gb := a.TerminationGracePeriodSeconds, b.TerminationGracePeriodSeconds
	a.TerminationGracePeriodSeconds, b.TerminationGracePeriodSeconds = nil, nil
	if a != b || (ga == nil) != (gb == nil) {
		return false
	}
	return ga == nil || *ga == *gb
}

func metav1Now() metav1.Time { return metav1.Now() }

// fakeClock is a clock that moves when the test steps it; its tickers go
// away when stopped.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	waiters map[*fakeWaiter]bool
}

type fakeWaiter struct {
	at     time.Time
	period time.Duration // 0: a one-shot timer
	ch     chan time.Time
	clk    *fakeClock
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{t: t, waiters: map[*fakeWaiter]bool{}}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) add(d, period time.Duration) *fakeWaiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWaiter{at: f.t.Add(d), period: period, ch: make(chan time.Time, 1), clk: f}
	f.waiters[w] = true
	return w
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time { return f.add(d, 0).ch }

func (f *fakeClock) NewTicker(d time.Duration) clock.Ticker { return f.add(d, d) }

func (w *fakeWaiter) C() <-chan time.Time { return w.ch }

func (w *fakeWaiter) Stop() {
	w.clk.mu.Lock()
	defer w.clk.mu.Unlock()
	delete(w.clk.waiters, w)
}

// waiting is how many timers and tickers are pending.
func (f *fakeClock) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Step moves the clock, firing what is due (a ticker whose last tick was
// not taken drops the new one, as time.Ticker does).
func (f *fakeClock) Step(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	for w := range f.waiters {
		if w.at.After(f.t) {
			continue
		}
		select {
		case w.ch <- f.t:
		default:
		}
		if w.period == 0 {
			delete(f.waiters, w)
			continue
		}
		for !w.at.After(f.t) {
			w.at = w.at.Add(w.period)
		}
	}
}
