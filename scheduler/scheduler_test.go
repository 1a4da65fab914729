package scheduler

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	s := &Scheduler{}
	for nodes, want := range map[int]int{
		10:    10,   // all of few nodes
		99:    99,   // still all
		100:   100,  // 49% of 100 < 100: at least 100
		500:   230,  // 46%
		1000:  420,  // 42%
		5000:  500,  // 10%
		6000:  300,  // 50 − 48 = 2% → the 5% floor
		20000: 1000, // 5%
	} {
		if got := s.numFeasibleNodesToFind(nodes); got != want {
			t.Errorf("%d nodes: %d, want %d", nodes, got, want)
		}
	}
	s.percentageOfNodesToScore = 10
	if got := s.numFeasibleNodesToFind(5000); got != 500 {
		t.Errorf("10%% of 5000: %d", got)
	}
}

func TestSelectHost(t *testing.T) {
	if got := selectHost([]int64{3, 9, 4}); got != 1 {
		t.Errorf("picked %d, want the highest", got)
	}
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		seen[selectHost([]int64{1, 7, 7, 2, 7})] = true
	}
	if len(seen) != 3 || !seen[1] || !seen[2] || !seen[4] {
		t.Errorf("ties picked %v, want 1, 2 and 4", seen)
	}
}

func TestTruncateMessage(t *testing.T) {
	if got := truncateMessage("short"); got != "short" {
		t.Error(got)
	}
	long := strings.Repeat("x", 2000)
	got := truncateMessage(long)
	if len(got) != noteLengthLimit || !strings.HasSuffix(got, " ...") {
		t.Errorf("truncated to %d bytes", len(got))
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no client accepted")
	}
	if _, err := New(Config{Client: fake.NewClientset(), Scoring: "RequestedToCapacityRatio"}); err == nil {
		t.Error("unknown scoring accepted")
	}
	s, err := New(Config{Client: fake.NewClientset(), Scoring: "MostAllocated"})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.SchedulerName != "default-scheduler" {
		t.Errorf("scheduler name %q", s.cfg.SchedulerName)
	}
}
