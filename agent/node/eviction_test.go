package node

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseThresholds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      map[string]string
		want    map[string]int64 // signal → amount for a capacity of 1000Mi
		wantErr bool
	}{
		{name: "kubelet defaults", in: nil, want: map[string]int64{
			signalMemoryAvailable: 100 << 20, signalNodefsAvailable: 100 << 20, signalNodefsInodesFree: 50 << 20,
		}},
		{name: "override and add", in: map[string]string{"memory.available": "5%", "pid.available": "10%"}, want: map[string]int64{
			signalMemoryAvailable: 50 << 20, signalNodefsAvailable: 100 << 20, signalNodefsInodesFree: 50 << 20, signalPIDAvailable: 100 << 20,
		}},
		{name: "zero turns off, imagefs ignored", in: map[string]string{"nodefs.inodesFree": "0%", "memory.available": "0", "imagefs.available": "15%"}, want: map[string]int64{
			signalNodefsAvailable: 100 << 20,
		}},
		{name: "unknown signal", in: map[string]string{"cpu.available": "1"}, wantErr: true},
		{name: "percentage over 100", in: map[string]string{"nodefs.available": "120%"}, wantErr: true},
		{name: "bad quantity", in: map[string]string{"memory.available": "lots"}, wantErr: true},
		{name: "negative", in: map[string]string{"memory.available": "-1Mi"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := parseThresholds(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(ts) != len(tc.want) {
				t.Errorf("signals %v, want %v", ts, tc.want)
			}
			for sig, amount := range tc.want {
				th, ok := ts[sig]
				if !ok || th.of(1000<<20) != amount {
					t.Errorf("%s: %d (present %v), want %d", sig, th.of(1000<<20), ok, amount)
				}
			}
		})
	}
}

func TestEvaluatePressure(t *testing.T) {
	ts, err := parseThresholds(map[string]string{"pid.available": "5%"})
	if err != nil {
		t.Fatal(err)
	}
	healthy := sample{
		memory: &memorySample{capacity: 4 << 30, available: 1 << 30},
		fs:     &fsSample{capacity: 100 << 30, available: 50 << 30, inodes: 1000, inodesFree: 900},
		pids:   &pidSample{max: 1000, running: 100},
	}
	for _, tc := range []struct {
		name   string
		change func(s *sample)
		want   pressures
	}{
		{"healthy", func(*sample) {}, pressures{}},
		{"memory under 100Mi", func(s *sample) { s.memory.available = 99 << 20 }, pressures{memory: true}},
		{"memory at 100Mi", func(s *sample) { s.memory.available = 100 << 20 }, pressures{}},
		{"disk under 10%", func(s *sample) { s.fs.available = 9 << 30 }, pressures{disk: true}},
		{"inodes under 5%", func(s *sample) { s.fs.inodesFree = 49 }, pressures{disk: true}},
		{"no inode count", func(s *sample) { s.fs.inodes, s.fs.inodesFree = 0, 0 }, pressures{}},
		{"pids under 5%", func(s *sample) { s.pids.running = 960 }, pressures{pid: true}},
		{"nothing measured", func(s *sample) { s.memory, s.fs, s.pids = nil, nil, nil }, pressures{}},
	} {
		s := healthy
		m, f, p := *healthy.memory, *healthy.fs, *healthy.pids
		s.memory, s.fs, s.pids = &m, &f, &p
		tc.change(&s)
		if got := ts.evaluate(&s); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A pressure condition stays for the transition period after the last
// time the pressure was seen.
func TestPressureTransitionPeriod(t *testing.T) {
	m := pressureMemory{period: 5 * time.Minute}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		seen pressures
		want pressures
	}{
		{0, pressures{}, pressures{}},
		{10 * time.Second, pressures{memory: true}, pressures{memory: true}},
		{20 * time.Second, pressures{disk: true}, pressures{memory: true, disk: true}},
		{5*time.Minute + 9*time.Second, pressures{}, pressures{memory: true, disk: true}},
		{5*time.Minute + 10*time.Second, pressures{}, pressures{disk: true}},
		{5*time.Minute + 20*time.Second, pressures{}, pressures{}},
	}
	for _, s := range steps {
		if got := m.observe(s.seen, t0.Add(s.at)); got != s.want {
			t.Errorf("at %v: %+v, want %+v", s.at, got, s.want)
		}
	}
}

func TestEvictionReservation(t *testing.T) {
	ts, err := parseThresholds(nil)
	if err != nil {
		t.Fatal(err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceMemory:           resource.MustParse("1Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1000Gi"),
		corev1.ResourceCPU:              resource.MustParse("2"),
	}
	r := ts.reservation(capacity)
	if q := r[corev1.ResourceMemory]; q.Value() != 100<<20 {
		t.Errorf("memory reservation %s, want 100Mi", q.String())
	}
	if q := r[corev1.ResourceEphemeralStorage]; q.Value() != 100<<30 {
		t.Errorf("ephemeral-storage reservation %s, want 100Gi", q.String())
	}
	if _, ok := r[corev1.ResourceCPU]; ok || len(r) != 2 {
		t.Errorf("reservation %v, want memory and ephemeral-storage only", r)
	}
}
