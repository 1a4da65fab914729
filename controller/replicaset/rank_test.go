package replicaset

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
	}}
	p.Status.Phase = corev1.PodRunning
	p.Spec.NodeName = "node-a"
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func created(ago time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-ago)) }
}
func readySince(ago time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-ago)),
		})
	}
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: c} }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}

func names(pods []*corev1.Pod) string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

// TestPodsToDelete checks Kubernetes' order of preference for deletion,
// one rule per case: the first pod named is the one to delete.
func TestPodsToDelete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		related []*corev1.Pod
		want    string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{
			mkPod("scheduled", readySince(time.Minute)), mkPod("unscheduled", onNode(""), phase(corev1.PodPending)),
		}, nil, "unscheduled"},
		{"pending before unknown before running", []*corev1.Pod{
			mkPod("running"), mkPod("unknown", phase(corev1.PodUnknown)), mkPod("pending", phase(corev1.PodPending)),
		}, nil, "pending,unknown,running"},
		{"not ready before ready", []*corev1.Pod{
			mkPod("ready", readySince(time.Minute)), mkPod("notready"),
		}, nil, "notready"},
		{"lower deletion cost first", []*corev1.Pod{
			mkPod("expensive", readySince(time.Minute), cost("100")), mkPod("cheap", readySince(time.Minute), cost("-5")),
			mkPod("default", readySince(time.Minute)),
		}, nil, "cheap,default,expensive"},
		{"a malformed cost counts as 0", []*corev1.Pod{
			mkPod("positive", readySince(time.Minute), cost("1")), mkPod("bad", readySince(time.Minute), cost("x")),
		}, nil, "bad"},
		{"doubled up before alone", []*corev1.Pod{
			mkPod("alone", onNode("n1"), readySince(time.Minute)), mkPod("doubled", onNode("n2"), readySince(time.Minute)),
		}, []*corev1.Pod{
			mkPod("alone", onNode("n1")), mkPod("doubled", onNode("n2")), mkPod("other", onNode("n2")),
		}, "doubled"},
		{"ready more recently first", []*corev1.Pod{
			mkPod("long", readySince(10*time.Hour)), mkPod("recent", readySince(10*time.Second)),
		}, nil, "recent"},
		{"more restarts first", []*corev1.Pod{
			mkPod("calm", restarts(1)), mkPod("crashy", restarts(7)),
		}, nil, "crashy"},
		{"newer before older", []*corev1.Pod{
			mkPod("old", created(48*time.Hour)), mkPod("new", created(time.Minute)),
		}, nil, "new"},
		{"rules apply in order: not ready beats newer", []*corev1.Pod{
			mkPod("new-ready", created(time.Minute), readySince(30*time.Second)), mkPod("old-notready", created(48*time.Hour)),
		}, nil, "old-notready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Split(tc.want, ",")
			got := rankForDeletion(tc.pods, tc.related, t0)[:len(want)]
			if names(got) != tc.want {
				t.Errorf("got %s, want %s", names(got), tc.want)
			}
		})
	}
}

// TestPodsToDeleteLogarithmicTies: creation times within the same
// power-of-two age bucket tie, and the UID decides.
func TestPodsToDeleteLogarithmicTies(t *testing.T) {
	// Ages 40 and 50 minutes share the bucket floor(log2(ns)) = 41.
	a := mkPod("b-newer", created(40*time.Minute))
	a.UID = "uid-2"
	b := mkPod("a-older", created(50*time.Minute))
	b.UID = "uid-1"
	if got := names(podsToDelete([]*corev1.Pod{a, b, mkPod("c", readySince(time.Minute))}, nil, 1, t0)); got != "a-older" {
		t.Errorf("same bucket: got %s, want the lower UID a-older", got)
	}
	// Without a reference time the newer goes first.
	sorted := []*corev1.Pod{b, a}
	s := rankedPods{pods: sorted, rank: []int{0, 0}}
	if !s.Less(1, 0) {
		t.Errorf("without now, the newer pod should come first")
	}
}

func TestPodsToDeleteAll(t *testing.T) {
	pods := []*corev1.Pod{mkPod("a"), mkPod("b")}
	if got := podsToDelete(pods, nil, 2, t0); len(got) != 2 {
		t.Errorf("deleting all: got %d pods", len(got))
	}
}

// TestSlowStartBatch: batches of 1, 2, 4, ... until a batch fails.
func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     int
		failAfter int64 // calls beyond this fail; -1 never
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, -1, 10, 10},
		{"first fails", 10, 0, 0, 1},
		{"fails in third batch", 10, 4, 4, 7}, // batches 1, 2, 4: the 4 calls of the third start together
		{"zero", 0, -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := slowStartBatch(tc.count, 1, func() error {
				if n := calls.Add(1); tc.failAfter >= 0 && n > tc.failAfter {
					return errors.New("boom")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls {
				t.Errorf("successes %d calls %d, want %d and %d", ok, calls.Load(), tc.wantOK, tc.wantCalls)
			}
			if (err != nil) != (tc.failAfter >= 0) {
				t.Errorf("err %v", err)
			}
		})
	}
}

func TestPodAvailable(t *testing.T) {
	p := mkPod("p", readySince(5*time.Second))
	if !PodAvailable(p, 0, t0) || !PodAvailable(p, 4, t0) || PodAvailable(p, 5, t0) || PodAvailable(p, 10, t0) {
		t.Errorf("availability of a pod ready for 5s is wrong")
	}
	if PodAvailable(mkPod("q"), 0, t0) {
		t.Errorf("a pod that is not ready is not available")
	}
}

func TestGenerateNamePrefix(t *testing.T) {
	if got := generateNamePrefix("web-abc"); got != "web-abc-" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("a", 253)
	if got := generateNamePrefix(long); got != long {
		t.Errorf("a name too long for a dash keeps no dash")
	}
}
