package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Eviction signals (the kubelet's names).
const (
	signalMemoryAvailable  = "memory.available"
	signalNodefsAvailable  = "nodefs.available"
	signalNodefsInodesFree = "nodefs.inodesFree"
	signalPIDAvailable     = "pid.available"
)

// defaultEvictionHard are the kubelet's default hard eviction thresholds
// on Linux (imagefs ones left out: the images are on the nodefs here).
func defaultEvictionHard() map[string]string {
	return map[string]string{
		signalMemoryAvailable:  "100Mi",
		signalNodefsAvailable:  "10%",
		signalNodefsInodesFree: "5%",
	}
}

// threshold is a hard eviction threshold: an absolute quantity, or a
// fraction of the resource's capacity.
type threshold struct {
	quantity *resource.Quantity
	fraction float64
}

// of is the threshold's amount for a resource of the given capacity, as
// the kubelet computes it.
func (t threshold) of(capacity int64) int64 {
	if t.quantity != nil {
		return t.quantity.Value()
	}
	return int64(float64(capacity) * t.fraction)
}

// thresholds are the hard eviction thresholds by signal; a signal without
// one is off.
type thresholds map[string]threshold

// parseThresholds reads --eviction-hard entries over the kubelet's
// defaults.
func parseThresholds(in map[string]string) (thresholds, error) {
	merged := defaultEvictionHard()
	for k, v := range in {
		merged[k] = v
	}
	out := thresholds{}
	for sig, v := range merged {
		switch sig {
		case signalMemoryAvailable, signalNodefsAvailable, signalNodefsInodesFree, signalPIDAvailable:
		case "imagefs.available", "imagefs.inodesFree", "containerfs.available", "containerfs.inodesFree":
			continue
		default:
			return nil, fmt.Errorf("eviction threshold %s: unknown signal", sig)
		}
		v = strings.TrimSpace(v)
		var t threshold
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return nil, fmt.Errorf("eviction threshold %s=%s: not a percentage between 0%% and 100%%", sig, v)
			}
			if f == 0 {
				continue
			}
			t.fraction = f / 100
		} else {
			q, err := resource.ParseQuantity(v)
			if err != nil || q.Sign() < 0 {
				return nil, fmt.Errorf("eviction threshold %s=%s: not a quantity or percentage", sig, v)
			}
			if q.IsZero() {
				continue
			}
			t.quantity = &q
		}
		out[sig] = t
	}
	return out, nil
}

// reservation is what the thresholds take from allocatable, as the
// kubelet's hard eviction reservation: memory.available from memory,
// nodefs.available from ephemeral-storage.
func (ts thresholds) reservation(capacity corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for sig, name := range map[string]corev1.ResourceName{
		signalMemoryAvailable: corev1.ResourceMemory,
		signalNodefsAvailable: corev1.ResourceEphemeralStorage,
	} {
		t, ok := ts[sig]
		c, has := capacity[name]
		if !ok || !has {
			continue
		}
		out[name] = *resource.NewQuantity(t.of(c.Value()), resource.BinarySI)
	}
	return out
}

// pressures are the node's pressure signals at one observation.
type pressures struct{ memory, disk, pid bool }

// evaluate tells which signals are under their thresholds. Signals that
// could not be observed (nil) are not under pressure.
func (ts thresholds) evaluate(s *sample) pressures {
	var p pressures
	under := func(sig string, available, capacity int64) bool {
		t, ok := ts[sig]
		return ok && available < t.of(capacity)
	}
	if s.memory != nil {
		p.memory = under(signalMemoryAvailable, s.memory.available, s.memory.capacity)
	}
	if s.fs != nil {
		p.disk = under(signalNodefsAvailable, s.fs.available, s.fs.capacity) ||
			(s.fs.inodes > 0 && under(signalNodefsInodesFree, s.fs.inodesFree, s.fs.inodes))
	}
	if s.pids != nil {
		p.pid = under(signalPIDAvailable, s.pids.max-s.pids.running, s.pids.max)
	}
	return p
}

// pressureMemory keeps a pressure condition True for the transition
// period after the pressure was last seen, as the kubelet's eviction
// manager does, so that the condition does not flap.
type pressureMemory struct {
	period                        time.Duration
	lastMemory, lastDisk, lastPID time.Time
}

// observe records p at now and returns the pressures to report.
func (m *pressureMemory) observe(p pressures, now time.Time) pressures {
	held := func(seen bool, last *time.Time) bool {
		if seen {
			*last = now
			return true
		}
		return !last.IsZero() && now.Sub(*last) < m.period
	}
	return pressures{
		memory: held(p.memory, &m.lastMemory),
		disk:   held(p.disk, &m.lastDisk),
		pid:    held(p.pid, &m.lastPID),
	}
}
