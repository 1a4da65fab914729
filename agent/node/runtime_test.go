package node

import (
	"context"
	"errors"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The Ready message follows the runtime's answers over time, in the
// kubelet's words.
func TestRuntimeReadiness(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pleg := HealthCheck{Name: "PLEG", Check: func() error { return errors.New("pleg was last seen active 3m0s ago; threshold is 3m0s") }}
	for _, tc := range []struct {
		name   string
		steps  []func(f *fakeRuntime) // one runtime check per step, 10s apart
		checks []HealthCheck
		want   string // "" for Ready
	}{
		{
			name:  "ready",
			steps: []func(*fakeRuntime){func(*fakeRuntime) {}},
		},
		{
			name:  "runtime never answered",
			steps: []func(*fakeRuntime){func(f *fakeRuntime) { f.down = true }},
			want:  "container runtime status check may not have completed yet",
		},
		{
			name: "network not ready",
			steps: []func(*fakeRuntime){func(f *fakeRuntime) {
				f.network = &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Reason: "NetworkPluginNotReady", Message: "Network plugin returns error: cni plugin not initialized"}
			}},
			want: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
		},
		{
			name: "runtime and network not ready, no network condition",
			steps: []func(*fakeRuntime){func(f *fakeRuntime) {
				f.runtime = &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Reason: "Starting", Message: "wait"}
				f.network = nil
			}},
			want: "[container runtime status check may not have completed yet, container runtime not ready: RuntimeReady=false reason:Starting message:wait, container runtime network not ready: <nil>]",
		},
		{
			name: "down within the threshold keeps the last state",
			steps: []func(*fakeRuntime){
				func(*fakeRuntime) {},
				func(f *fakeRuntime) { f.down = true },
				func(*fakeRuntime) {},
			},
		},
		{
			name: "down for 30s",
			steps: []func(*fakeRuntime){
				func(*fakeRuntime) {},
				func(f *fakeRuntime) { f.down = true },
				func(*fakeRuntime) {},
				func(*fakeRuntime) {},
			},
			want: "container runtime is down",
		},
		{
			name: "back up",
			steps: []func(*fakeRuntime){
				func(*fakeRuntime) {},
				func(f *fakeRuntime) { f.down = true },
				func(*fakeRuntime) {},
				func(*fakeRuntime) {},
				func(f *fakeRuntime) { f.down = false },
			},
		},
		{
			name:   "failing health check",
			steps:  []func(*fakeRuntime){func(*fakeRuntime) {}},
			checks: []HealthCheck{pleg},
			want:   "PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRuntime()
			var s runtimeState
			now := t0
			for _, step := range tc.steps {
				f.set(step)
				s.check(context.Background(), f, now)
				now = now.Add(10 * time.Second)
			}
			now = now.Add(-10 * time.Second)
			err := s.readyErr(now, tc.checks)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("ready error\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRuntimeVersion(t *testing.T) {
	f := newFakeRuntime()
	var s runtimeState
	if err := s.check(context.Background(), f, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s.version != "containerd://1.6.20~ds1" {
		t.Errorf("version %q", s.version)
	}
	f.set(func(f *fakeRuntime) { f.down = true })
	if err := s.check(context.Background(), f, time.Now()); err == nil {
		t.Error("check of a runtime that is down: no error")
	}
	if s.version != "containerd://1.6.20~ds1" {
		t.Errorf("version after a failed check %q, want the last one", s.version)
	}
}
