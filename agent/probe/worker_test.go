package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one turn of a worker: at that time after the container
// started, with the exec answering res.
type step struct {
	at         time.Duration
	res        execResult
	probed     bool
	goOn       bool
	result     *bool  // the result sent, if any
	message    string // its Message
	ready      bool   // Ready afterwards
	started    bool   // Started afterwards
	eventCount int    // events recorded by this step
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
	ok  = execResult{out: "fine"}
	bad = execResult{out: "broken", code: 1}
)

func TestWorkerThresholds(t *testing.T) {
	grace := int64(7)
	withGrace := execProbe(0, 10, 1, 3)
	withGrace.TerminationGracePeriodSeconds = &grace
	tests := []struct {
		name  string
		kind  Kind
		probe *corev1.Probe
		steps []step
	}{
		{"readiness false until the first success, after the initial delay", Readiness, execProbe(5, 10, 1, 3), []step{
			{at: 0, probed: false, goOn: true, started: true},
			{at: 4900 * time.Millisecond, probed: false, goOn: true, started: true},
			{at: 5 * time.Second, res: bad, probed: true, goOn: true, started: true, eventCount: 1},
			{at: 15 * time.Second, res: ok, probed: true, goOn: true, result: yes, message: "fine", ready: true, started: true},
			{at: 25 * time.Second, res: ok, probed: true, goOn: true, ready: true, started: true},
		}},
		{"readiness thresholds", Readiness, execProbe(0, 10, 2, 2), []step{
			{res: ok, probed: true, goOn: true, started: true},
			{res: ok, probed: true, goOn: true, result: yes, message: "fine", ready: true, started: true},
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: ok, probed: true, goOn: true, ready: true, started: true},
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: bad, probed: true, goOn: true, result: no, message: "broken", started: true, eventCount: 1},
			{res: bad, probed: true, goOn: true, started: true, eventCount: 1},
		}},
		{"liveness fails after failureThreshold in a row, then stops", Liveness, withGrace, []step{
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: ok, probed: true, goOn: true, ready: true, started: true},
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: bad, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: bad, probed: true, goOn: false, result: no, message: "broken", ready: true, started: true, eventCount: 1},
		}},
		{"liveness successes are not news", Liveness, execProbe(0, 10, 1, 1), []step{
			{res: ok, probed: true, goOn: true, ready: true, started: true},
			{res: ok, probed: true, goOn: true, ready: true, started: true},
		}},
		{"startup success starts the container and ends the probe", Startup, execProbe(0, 10, 1, 3), []step{
			{res: bad, probed: true, goOn: true, eventCount: 1},
			{res: ok, probed: true, goOn: false, result: yes, message: "fine", ready: true, started: true},
		}},
		{"startup failure", Startup, execProbe(0, 10, 1, 2), []step{
			{res: bad, probed: true, goOn: true, eventCount: 1},
			{res: bad, probed: true, goOn: false, result: no, message: "broken", eventCount: 1},
		}},
		{"errors are thrown away", Liveness, execProbe(0, 10, 1, 1), []step{
			{res: execResult{err: errors.New("no such container")}, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: execResult{err: errors.New("no such container")}, probed: true, goOn: true, ready: true, started: true, eventCount: 1},
			{res: execResult{err: fmt.Errorf("exec: %w", context.DeadlineExceeded)}, probed: true, goOn: false, result: no,
				message: `command "check" timed out`, ready: true, started: true, eventCount: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx, clk, rec := newFakeExec(), &fakeNow{t: t0}, record.NewFakeRecorder(100)
			m := NewManager(Config{Logger: quiet, Exec: fx.exec, Now: clk.now, Recorder: rec})
			var pod *corev1.Pod
			switch tt.kind {
			case Startup:
				pod = testPod(tt.probe, nil, nil)
			case Liveness:
				pod = testPod(nil, tt.probe, nil)
			case Readiness:
				pod = testPod(nil, nil, tt.probe)
			}
			ctx, workers := m.add(pod, "10.0.0.5", "app", "cid1", t0)
			if len(workers) != 1 {
				t.Fatalf("%d workers, want 1", len(workers))
			}
			w := workers[0]
			for i, s := range tt.steps {
				if s.at != 0 {
					clk.set(t0.Add(s.at))
				}
				fx.set(s.res)
				calls := fx.count()
				goOn := w.once(ctx)
				if probed := fx.count() > calls; probed != s.probed {
					t.Fatalf("step %d: probed %v, want %v", i, probed, s.probed)
				}
				if goOn != s.goOn {
					t.Errorf("step %d: go on %v, want %v", i, goOn, s.goOn)
				}
				select {
				case r := <-m.Results():
					if s.result == nil {
						t.Fatalf("step %d: unexpected result %+v", i, r)
					}
					want := Result{PodUID: "u1", Container: "app", ContainerID: "cid1", Kind: tt.kind, Success: *s.result, Message: s.message}
					if !*s.result && tt.kind != Readiness {
						want.TerminationGracePeriodSeconds = tt.probe.TerminationGracePeriodSeconds
					}
					if !equalResults(r, want) {
						t.Errorf("step %d: result %+v, want %+v", i, r, want)
					}
				default:
					if s.result != nil {
						t.Errorf("step %d: no result, want %v", i, *s.result)
					}
				}
				if got := m.Ready("u1", "app"); got != s.ready {
					t.Errorf("step %d: ready %v, want %v", i, got, s.ready)
				}
				if got := m.Started("u1", "app"); got != s.started {
					t.Errorf("step %d: started %v, want %v", i, got, s.started)
				}
				if len(rec.Events) != s.eventCount {
					t.Errorf("step %d: %d events, want %d", i, len(rec.Events), s.eventCount)
				}
				for len(rec.Events) > 0 {
					<-rec.Events
				}
			}
			if c := fx.last(); c.containerID != "cid1" || c.timeout != time.Second || strings.Join(c.cmd, " ") != "check" {
				t.Errorf("last exec %+v", c)
			}
		})
	}
}

// Liveness and readiness wait for the startup probe, and the readiness
// probe runs at once when it succeeds.
func TestStartupGatesOtherProbes(t *testing.T) {
	fx := newFakeExec()
	m := NewManager(Config{Logger: quiet, Exec: fx.exec})
	pod := testPod(execProbe(0, 10, 1, 3), execProbe(0, 10, 1, 3), execProbe(0, 10, 1, 3))
	ctx, workers := m.add(pod, "10.0.0.5", "app", "cid1", t0)
	if len(workers) != 3 {
		t.Fatalf("%d workers", len(workers))
	}
	startup, liveness, readiness := workers[0], workers[1], workers[2]
	fx.set(ok)
	for _, w := range []*worker{liveness, readiness} {
		if !w.once(ctx) || fx.count() != 0 {
			t.Fatalf("%s probed before the container started", w.kind)
		}
	}
	if m.Started("u1", "app") || m.Ready("u1", "app") {
		t.Fatal("started or ready before the startup probe succeeded")
	}
	if startup.once(ctx) {
		t.Error("the startup worker goes on after success")
	}
	if !m.Started("u1", "app") || m.Ready("u1", "app") {
		t.Fatalf("started %v ready %v, want true false", m.Started("u1", "app"), m.Ready("u1", "app"))
	}
	select {
	case <-startup.c.readinessNow:
	default:
		t.Error("readiness was not asked to probe at once")
	}
	readiness.once(ctx)
	liveness.once(ctx)
	if fx.count() != 3 {
		t.Errorf("%d probes, want 3", fx.count())
	}
	if !m.Ready("u1", "app") {
		t.Error("not ready after the readiness probe succeeded")
	}
}

// Events carry the kubelet's reasons and messages, on the container's
// field path.
func TestEvents(t *testing.T) {
	fx := newFakeExec()
	rec := record.NewFakeRecorder(10)
	rec.IncludeObject = true
	m := NewManager(Config{Logger: quiet, Exec: fx.exec, Recorder: rec})
	pod := testPod(nil, execProbe(0, 10, 1, 3), nil)
	pod.Spec.InitContainers = []corev1.Container{{Name: "side", ReadinessProbe: execProbe(0, 10, 1, 3)}}
	ctx, lw := m.add(pod, "10.0.0.5", "app", "cid1", t0)
	_, rw := m.add(pod, "10.0.0.5", "side", "cid2", t0)
	tests := []struct {
		w    *worker
		res  execResult
		want string
	}{
		{lw[0], execResult{out: "oops", code: 2}, "Warning Unhealthy Liveness probe failed: oops involvedObject{kind=Pod,apiVersion=v1}"},
		{rw[0], execResult{err: errors.New("boom")}, "Warning Unhealthy Readiness probe errored and resulted in unknown state: boom involvedObject{kind=Pod,apiVersion=v1}"},
	}
	for _, tt := range tests {
		fx.set(tt.res)
		tt.w.once(ctx)
		got := <-rec.Events
		if got != tt.want {
			t.Errorf("event %q, want %q", got, tt.want)
		}
	}
}
