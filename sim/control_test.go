package sim

import (
	"context"
	"strings"
	"testing"
)

func TestControl(t *testing.T) {
	s, _ := newTestSim(t, Config{Nodes: 2})
	in := strings.Join([]string{
		"nodes", "stop sim-1", "nodes", "stop sim-7", "add 2", "add x", "resume sim-1", "", "nodes", "bogus",
	}, "\n")
	var out strings.Builder
	if err := s.Control(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	want := []string{
		"sim-0 sim-1",
		"stopped sim-1",
		"sim-0 sim-1*",
		`error: no simulated node "sim-7"`,
		"added sim-2 sim-3",
		`error: add "x": not a positive number`,
		"resumed sim-1",
		"sim-0 sim-1 sim-2 sim-3",
		`error: unknown command "bogus"`,
	}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Fatalf("answers:\n%s\nwant line %d %q", out.String(), i, w)
		}
	}
	if !strings.Contains(out.String(), "commands:") {
		t.Error("no help after an unknown command")
	}
}
