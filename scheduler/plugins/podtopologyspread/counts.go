package podtopologyspread

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
)

// maxMemoSelectors is how many selectors the counter remembers.
const maxMemoSelectors = 8

// matchCounter counts the pods a selector matches on each node, and
// remembers the counts from one scheduling cycle to the next: a node's
// information in the snapshot is replaced (never changed) when its pods
// change, so a count is still right while the node's NodeInfo is the same
// object. Pods of one workload share a selector, so that scheduling them
// one after another recounts only the nodes that changed in between,
// instead of every pod of the cluster.
type matchCounter struct {
	mu      sync.Mutex
	entries []*memoEntry // most recently used first
}

type memoEntry struct {
	key    string
	byNode map[string]nodeCount
}

type nodeCount struct {
	ni *framework.NodeInfo
	n  int
}

// get returns the count of a node if remembered for this NodeInfo.
func (e *memoEntry) get(ni *framework.NodeInfo) (int, bool) {
	if e == nil {
		return 0, false
	}
	c, ok := e.byNode[ni.Node().Name]
	if !ok || c.ni != ni {
		return 0, false
	}
	return c.n, true
}

func (m *matchCounter) entry(key string) *memoEntry {
	for i, e := range m.entries {
		if e.key == key {
			copy(m.entries[1:i+1], m.entries[:i])
			m.entries[0] = e
			return e
		}
	}
	e := &memoEntry{key: key, byNode: map[string]nodeCount{}}
	if len(m.entries) < maxMemoSelectors {
		m.entries = append(m.entries, nil)
	}
	copy(m.entries[1:], m.entries[:len(m.entries)-1])
	m.entries[0] = e
	return e
}

// counts returns the pods of namespace ns that sel matches on each node
// (aligned with nodes, some of the cluster's total nodes), and the memo
// entry that holds them. The entry may be read, not changed, until the
// next call.
func (m *matchCounter) counts(ctx context.Context, p framework.Parallelizer, nodes []*framework.NodeInfo, total int, sel labels.Selector, ns string) ([]int, *memoEntry) {
	out := make([]int, len(nodes))
	if sel.Empty() {
		return out, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(ns + "\x00" + sel.String())
	stale := make([]bool, len(nodes))
	p.Until(ctx, len(nodes), func(i int) {
		if n, ok := e.get(nodes[i]); ok {
			out[i] = n
			return
		}
		out[i] = countMatching(nodes[i].Pods, sel, ns)
		stale[i] = true
	})
	if len(e.byNode) > 2*total+16 {
		// Forget nodes that are gone.
		e.byNode = make(map[string]nodeCount, len(nodes))
		for i := range stale {
			stale[i] = true
		}
	}
	for i, s := range stale {
		if s {
			e.byNode[nodes[i].Node().Name] = nodeCount{ni: nodes[i], n: out[i]}
		}
	}
	return out, e
}
