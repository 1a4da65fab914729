package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodDeletionCostAnnotation lets users tell which pods of a ReplicaSet to
// delete first: lower costs go first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podReady reports whether a pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// PodAvailable reports whether a pod has been ready for at least
// minReadySeconds at now, as Kubernetes counts available replicas.
func PodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !podReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := readyCondition(p)
	return !c.LastTransitionTime.IsZero() &&
		c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// podActive reports whether a pod counts as a replica: not terminal and
// not being deleted.
func podActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

func filterActive(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if podActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// deletionCost reads the pod-deletion-cost annotation; a missing or
// malformed one costs 0.
func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// rankedPods sorts pods so that those to delete first come first, by
// Kubernetes' rules in turn:
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower pod-deletion-cost first;
//  5. more related pods on the same node (rank) first;
//  6. ready for less time first (on a logarithmic scale);
//  7. more container restarts first;
//  8. created more recently first (on a logarithmic scale);
//
// with ties on the logarithmic scales broken by UID.
type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (s rankedPods) Len() int { return len(s.pods) }

func (s rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

func (s rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := podReady(a), podReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	if podReady(a) && podReady(b) {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(tb) {
			return s.newerFirst(a, b, ta, tb)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return s.newerFirst(a, b, ta, tb)
	}
	return false
}

// newerFirst compares two different times: the zero time first, then the
// later one; with a reference time, times whose age has the same base-2
// logarithm are equal and the UIDs decide, so that equivalent pods are
// picked pseudo-randomly.
func (s rankedPods) newerFirst(a, b *corev1.Pod, ta, tb time.Time) bool {
	if s.now.IsZero() || ta.IsZero() || tb.IsZero() {
		return afterOrZero(ta, tb)
	}
	d := logRank(ta, s.now) - logRank(tb, s.now)
	if d == 0 {
		return a.UID < b.UID
	}
	return d < 0
}

func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func logRank(t, now time.Time) int64 {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func readyTime(p *corev1.Pod) time.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func maxRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// podsToDelete picks the diff pods of filtered to delete first. related are
// the active pods of every ReplicaSet with the same controller: a pod's
// rank is how many of them share its node.
func podsToDelete(filtered, related []*corev1.Pod, diff int, now time.Time) []*corev1.Pod {
	if diff >= len(filtered) {
		return filtered
	}
	return rankForDeletion(filtered, related, now)[:diff]
}

// rankForDeletion returns filtered sorted in the order of deletion.
func rankForDeletion(filtered, related []*corev1.Pod, now time.Time) []*corev1.Pod {
	onNode := map[string]int{}
	for _, p := range related {
		if podActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	sorted := append([]*corev1.Pod(nil), filtered...)
	ranks := make([]int, len(sorted))
	for i, p := range sorted {
		ranks[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(rankedPods{pods: sorted, rank: ranks, now: now})
	return sorted
}
