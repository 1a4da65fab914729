package queuesort

import (
	"testing"
	"time"

	"berth/scheduler/framework"
	st "berth/scheduler/schedtest"
)

func TestLess(t *testing.T) {
	t0 := time.Unix(100, 0)
	qpi := func(prio int32, at time.Time) *framework.QueuedPodInfo {
		return &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(st.MakePod().Priority(prio).Obj()), Timestamp: at}
	}
	tests := []struct {
		name string
		a, b *framework.QueuedPodInfo
		want bool
	}{
		{"higher priority first", qpi(10, t0.Add(time.Second)), qpi(1, t0), true},
		{"lower priority later", qpi(1, t0), qpi(10, t0), false},
		{"same priority, earlier first", qpi(5, t0), qpi(5, t0.Add(time.Second)), true},
		{"same priority, later after", qpi(5, t0.Add(time.Second)), qpi(5, t0), false},
	}
	for _, tc := range tests {
		if got := (PrioritySort{}).Less(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
