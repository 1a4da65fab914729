package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "A", Value: "alpha"},
		{Name: "EMPTY"},
		{Name: "FROM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x$(A)y$(A)", "xalphayalpha"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$(EMPTY)-", "-"},
		{"$(FROM)", ""},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"$A", "$A"},
		{"cost $", "cost $"},
		{"$(A", "$(A"},
		{"$(open $(A)", "$(open $(A)"}, // the name is "open $(A"
		{"$(x $$", "$(x $"},
		{"$()", "$()"},
	}
	for _, tt := range tests {
		if got := expand([]string{tt.in}, env)[0]; got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExecProbe(t *testing.T) {
	long := strings.Repeat("y", 20<<10)
	tests := []struct {
		name    string
		exec    bool
		res     execResult
		want    outcome
		output  string
		wantErr string
	}{
		{name: "exit 0", exec: true, res: execResult{out: "ok"}, want: success, output: "ok"},
		{name: "exit 1", exec: true, res: execResult{out: "bad", code: 1}, want: failure, output: "bad"},
		{name: "output up to 10 KiB", exec: true, res: execResult{out: long, code: 1}, want: failure, output: long[:10<<10]},
		{name: "timeout", exec: true, res: execResult{err: context.DeadlineExceeded}, want: failure, output: `command "sh -c sleep 9" timed out`},
		{name: "runtime error", exec: true, res: execResult{err: errors.New("container not running")}, want: unknown, wantErr: "container not running"},
		{name: "no Exec", exec: false, want: unknown, wantErr: "exec probes are not supported by this node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFakeExec()
			fx.set(tt.res)
			cfg := Config{Logger: quiet}
			var deadline time.Duration
			if tt.exec {
				cfg.Exec = func(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
					d, _ := ctx.Deadline()
					deadline = time.Until(d)
					return fx.exec(ctx, id, cmd, timeout)
				}
			}
			m := NewManager(cfg)
			c := &container{id: "cid", pod: &corev1.Pod{}, spec: &corev1.Container{Name: "c"}}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 9"}}}, TimeoutSeconds: 3}
			got, output, err := m.runProbe(context.Background(), p, c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || output != tt.output {
				t.Fatalf("got %v %.40q %v, want %v %.40q", got, output, err, tt.want, tt.output)
			}
			if call := fx.last(); call.timeout != 3*time.Second || call.containerID != "cid" {
				t.Errorf("exec called with %+v, want the probe's timeout of 3s", call)
			}
			if deadline <= 3*time.Second || deadline > 3*time.Second+execSlack {
				t.Errorf("exec's context ends in %v, want a little more than the timeout", deadline)
			}
		})
	}
}

// A probe with no handler errors.
func TestMissingHandler(t *testing.T) {
	m := NewManager(Config{Logger: quiet})
	pod := testPod(nil, nil, nil)
	c := &container{pod: pod, spec: &pod.Spec.Containers[0]}
	_, _, err := m.runProbe(context.Background(), &corev1.Probe{}, c)
	if err == nil || err.Error() != "missing probe handler for p_ns(u1):app" {
		t.Errorf("error %v", err)
	}
}
