package nodelifecycle

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// zoneState is the health of a zone, as Kubernetes names it.
type zoneState string

const (
	stateInitial           zoneState = "Initial"
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// excludeDisruptionLabel keeps a node out of its zone's health.
const excludeDisruptionLabel = "node.kubernetes.io/exclude-disruption"

// zoneKey names a node's failure domain: region and zone, from the stable
// topology labels or their deprecated beta forms; "" when it has neither.
func zoneKey(node *corev1.Node) string {
	region := node.Labels[corev1.LabelTopologyRegion]
	if region == "" {
		region = node.Labels[corev1.LabelFailureDomainBetaRegion]
	}
	zone := node.Labels[corev1.LabelTopologyZone]
	if zone == "" {
		zone = node.Labels[corev1.LabelFailureDomainBetaZone]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

// computeZoneState classifies a zone from its nodes' Ready conditions (nil
// for a node that never posted one): fully disrupted when none is ready,
// partially when more than two and at least threshold of them are not.
func computeZoneState(conds []*corev1.NodeCondition, threshold float32) (int, zoneState) {
	ready, notReady := 0, 0
	for _, c := range conds {
		if c != nil && c.Status == corev1.ConditionTrue {
			ready++
		} else {
			notReady++
		}
	}
	switch {
	case ready == 0 && notReady > 0:
		return notReady, stateFullDisruption
	case notReady > 2 && float32(notReady)/float32(notReady+ready) >= threshold:
		return notReady, statePartialDisruption
	default:
		return notReady, stateNormal
	}
}

// tokenBucket is a rate limiter with a burst of one, on the controller's
// clock.
type tokenBucket struct {
	qps    float64
	tokens float64
	last   time.Time
}

func newTokenBucket(qps float32, now time.Time) tokenBucket {
	return tokenBucket{qps: float64(qps), tokens: 1, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens += now.Sub(b.last).Seconds() * b.qps
		if b.tokens > 1 {
			b.tokens = 1
		}
		b.last = now
	}
}

// tryAccept takes a token if one is there.
func (b *tokenBucket) tryAccept(now time.Time) bool {
	if b.qps <= 0 {
		return false
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// swap changes the rate; a bucket that was empty stays empty.
func (b *tokenBucket) swap(qps float32, now time.Time) {
	if b.qps == float64(qps) {
		return
	}
	drained := !b.tryAccept(now)
	*b = newTokenBucket(qps, now)
	if qps > 0 && drained {
		b.tokens = 0
	}
}

// queuedNode is a node waiting for its NoExecute taint.
type queuedNode struct {
	name string
	at   time.Time
}

// tainter is a zone's rate-limited queue of nodes to taint. A node stays
// in the set after it is tainted, so that it is not queued again until it
// is removed (when it recovers, or its taint went missing).
type tainter struct {
	queue  []queuedNode
	set    map[string]bool
	bucket tokenBucket
}

func newTainter(qps float32, now time.Time) *tainter {
	return &tainter{set: map[string]bool{}, bucket: newTokenBucket(qps, now)}
}

// add queues a node; false if it was already there.
func (t *tainter) add(name string, now time.Time) bool {
	if t.set[name] {
		return false
	}
	t.set[name] = true
	t.queue = append(t.queue, queuedNode{name: name, at: now})
	t.sort()
	return true
}

// remove forgets a node; false if it was not there.
func (t *tainter) remove(name string) bool {
	if !t.set[name] {
		return false
	}
	delete(t.set, name)
	t.dequeue(name)
	return true
}

func (t *tainter) dequeue(name string) {
	for i := range t.queue {
		if t.queue[i].name == name {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			return
		}
	}
}

func (t *tainter) sort() {
	sort.SliceStable(t.queue, func(i, j int) bool { return t.queue[i].at.Before(t.queue[j].at) })
}

// next returns the node to taint now, if the rate limit and the queue
// allow one.
func (t *tainter) next(now time.Time) (string, bool) {
	if len(t.queue) == 0 || !t.bucket.tryAccept(now) {
		return "", false
	}
	head := t.queue[0]
	if now.Before(head.at) {
		return "", false
	}
	return head.name, true
}

// done records the outcome of tainting name: off the queue (but still in
// the set) on success, back in the queue after retry otherwise.
func (t *tainter) done(name string, ok bool, retry time.Duration, now time.Time) {
	if !t.set[name] {
		return
	}
	t.dequeue(name)
	if !ok {
		t.queue = append(t.queue, queuedNode{name: name, at: now.Add(retry)})
		t.sort()
	}
}
