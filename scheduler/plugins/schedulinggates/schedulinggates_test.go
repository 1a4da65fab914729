package schedulinggates

import (
	"context"
	"testing"

	"berth/scheduler/framework"
	st "berth/scheduler/schedtest"
)

func TestPreEnqueue(t *testing.T) {
	if s := (SchedulingGates{}).PreEnqueue(context.Background(), st.MakePod().Obj()); !s.IsSuccess() {
		t.Errorf("ungated pod held: %v", s)
	}
	s := (SchedulingGates{}).PreEnqueue(context.Background(), st.MakePod().SchedulingGates("a", "b").Obj())
	if s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != "waiting for scheduling gates: [a b]" {
		t.Errorf("gated pod: %v", s)
	}
}
