package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextResult waits for a result.
func nextResult(t *testing.T, m *Manager) Result {
	t.Helper()
	select {
	case r := <-m.Results():
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return Result{}
	}
}

// waitCall waits for the fake exec to be called.
func waitCall(t *testing.T, fx *fakeExec) {
	t.Helper()
	select {
	case <-fx.called:
	case <-time.After(10 * time.Second):
		t.Fatal("no probe within 10s")
	}
}

// fakeClockManager is a manager on a fake clock, with the jitter it would
// wait recorded.
func fakeClockManager(fx *fakeExec, jitter time.Duration) (*Manager, *fakeClock, *atomic.Int64) {
	clk := newFakeClock(t0)
	m := NewManager(Config{Logger: quiet, Exec: fx.exec, Now: clk.Now})
	m.timers = clk
	var asked atomic.Int64
	m.jitter = func(max time.Duration) time.Duration {
		asked.Store(int64(max))
		return jitter
	}
	return m, clk, &asked
}

// A manager that has just started spreads first probes over a period;
// then the probe runs every period, and a liveness failure after
// failureThreshold is a result; a restarted container is probed afresh.
func TestLoopJitterPeriodRestart(t *testing.T) {
	t.Parallel()
	fx := newFakeExec()
	m, clk, asked := fakeClockManager(fx, 3*time.Second)
	pod := testPod(nil, execProbe(0, 10, 1, 2), nil)
	fx.set(bad)
	m.Start(pod, "10.0.0.5", "app", "cid1", clk.Now())
	waitFor(t, "the jitter wait", func() bool { return clk.waiting() == 1 })
	if fx.count() != 0 {
		t.Fatal("probed before the jitter")
	}
	if got := time.Duration(asked.Load()); got != 10*time.Second {
		t.Errorf("jitter asked for up to %v, want the period 10s", got)
	}
	clk.Step(3 * time.Second)
	waitCall(t, fx)
	select {
	case r := <-m.Results():
		t.Fatalf("result after one failure of two: %+v", r)
	default:
	}
	clk.Step(10 * time.Second)
	waitCall(t, fx)
	r := nextResult(t, m)
	if r.Kind != Liveness || r.Success || r.ContainerID != "cid1" || r.Message != "broken" {
		t.Fatalf("result %+v, want a liveness failure of cid1", r)
	}
	// The worker is on hold: its ticker is gone.
	waitFor(t, "the liveness worker to end", func() bool { return clk.waiting() == 0 })

	// Restarted: no jitter any more (the manager is older than a period),
	// the first probe at once.
	m.Start(pod, "10.0.0.5", "app", "cid2", clk.Now())
	waitCall(t, fx)
	if c := fx.last(); c.containerID != "cid2" {
		t.Errorf("probed %s, want cid2", c.containerID)
	}
	clk.Step(10 * time.Second)
	waitCall(t, fx)
	if r := nextResult(t, m); r.ContainerID != "cid2" || r.Success {
		t.Errorf("result %+v, want a liveness failure of cid2", r)
	}
}

// Start twice with one container ID keeps the probes; Stop and StopPod end
// them.
func TestStartStop(t *testing.T) {
	t.Parallel()
	fx := newFakeExec()
	m, clk, _ := fakeClockManager(fx, 0)
	clk.Step(time.Minute)
	fx.set(ok)
	pod := testPod(nil, nil, execProbe(0, 10, 1, 3))
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "plain"})
	if m.Ready("u1", "app") || m.Started("u1", "app") {
		t.Fatal("ready or started before Start")
	}
	m.Start(pod, "10.0.0.5", "app", "cid1", clk.Now())
	m.Start(pod, "10.0.0.5", "plain", "cid2", clk.Now())
	first := m.containers[key{"u1", "app"}]
	waitCall(t, fx)
	if r := nextResult(t, m); r.Kind != Readiness || !r.Success {
		t.Fatalf("result %+v, want readiness", r)
	}
	m.Start(pod, "10.0.0.5", "app", "cid1", clk.Now())
	if m.containers[key{"u1", "app"}] != first {
		t.Error("Start with the same container ID replaced the probes")
	}
	if !m.Ready("u1", "app") || !m.Ready("u1", "plain") || !m.Started("u1", "plain") {
		t.Error("not ready: a container without a readiness probe is ready, one whose probe succeeded too")
	}

	m.Stop("u1", "app")
	if m.Ready("u1", "app") || m.Started("u1", "app") {
		t.Error("ready or started after Stop")
	}
	waitFor(t, "the readiness worker to end", func() bool { return clk.waiting() == 0 })
	if !m.Ready("u1", "plain") {
		t.Error("Stop of one container stopped another")
	}
	m.StopPod("u1")
	if m.Ready("u1", "plain") || len(m.containers) != 0 {
		t.Error("StopPod left containers")
	}
}

// A worker of a stopped container sends nothing.
func TestNoResultAfterStop(t *testing.T) {
	fx := newFakeExec()
	m := NewManager(Config{Logger: quiet, Exec: fx.exec})
	ctx, workers := m.add(testPod(nil, nil, execProbe(0, 10, 1, 3)), "10.0.0.5", "app", "cid1", t0)
	m.Stop("u1", "app")
	fx.set(ok)
	if workers[0].once(ctx) {
		t.Error("the worker goes on after Stop")
	}
	select {
	case r := <-m.Results():
		t.Errorf("result after Stop: %+v", r)
	default:
	}
}

// A pod being deleted is not probed for liveness or startup.
func TestDeletingPod(t *testing.T) {
	fx := newFakeExec()
	m := NewManager(Config{Logger: quiet, Exec: fx.exec})
	pod := testPod(nil, execProbe(0, 10, 1, 3), execProbe(0, 10, 1, 3))
	now := metav1Now()
	pod.DeletionTimestamp = &now
	ctx, workers := m.add(pod, "10.0.0.5", "app", "cid1", t0)
	fx.set(ok)
	if workers[0].once(ctx) || fx.count() != 0 {
		t.Error("liveness probed a pod being deleted")
	}
	if !workers[1].once(ctx) || fx.count() != 1 {
		t.Error("readiness did not probe a pod being deleted")
	}
}

// With real time: an httpGet readiness probe makes the container ready,
// then unready when the server fails, and Run stops every worker.
func TestRealTimeReadiness(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	host, port := splitHostPort(t, srv.URL)
	m := NewManager(Config{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	p := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(int32(port))}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	pod := testPod(nil, nil, p)
	// Not just after the manager's start: no jitter.
	m.start = time.Now().Add(-time.Minute)
	m.Start(pod, host, "app", "cid1", time.Now())
	if r := nextResult(t, m); !r.Success || r.Kind != Readiness {
		t.Fatalf("result %+v, want ready", r)
	}
	if !m.Ready("u1", "app") {
		t.Error("not ready")
	}
	fail.Store(true)
	if r := nextResult(t, m); r.Success || r.Message != "HTTP probe failed with statuscode: 503" {
		t.Fatalf("result %+v, want unready", r)
	}
	if m.Ready("u1", "app") {
		t.Error("ready after failing")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
