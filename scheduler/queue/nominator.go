package queue

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth/scheduler/framework"
)

// nominator remembers the node each preemptor was nominated to, so that
// the room preemption made is kept for it: filters count nominated pods
// of at least the same priority as if they were on the node.
type nominator struct {
	mu     sync.RWMutex
	byNode map[string][]*framework.PodInfo
	nodeOf map[types.UID]string
	count  atomic.Int64
	// exists reports whether a pod still exists unassigned (nil: assume
	// so).
	exists func(pod *v1.Pod) bool
}

func newNominator(exists func(*v1.Pod) bool) *nominator {
	return &nominator{byNode: map[string][]*framework.PodInfo{}, nodeOf: map[types.UID]string{}, exists: exists}
}

// add nominates a pod: to ni's node with ModeOverride, otherwise to the
// node in its status, if any.
func (n *nominator) add(pi *framework.PodInfo, ni *framework.NominatingInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addLocked(pi, ni)
}

func (n *nominator) addLocked(pi *framework.PodInfo, ni *framework.NominatingInfo) {
	n.deleteLocked(pi.Pod)
	var node string
	if ni.Mode() == framework.ModeOverride {
		node = ni.NominatedNodeName
	} else {
		node = pi.Pod.Status.NominatedNodeName
	}
	if node == "" {
		return
	}
	if n.exists != nil && !n.exists(pi.Pod) {
		return
	}
	n.nodeOf[pi.Pod.UID] = node
	n.byNode[node] = append(n.byNode[node], pi)
	n.count.Add(1)
}

// delete forgets a pod's nomination.
func (n *nominator) delete(pod *v1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pod)
}

func (n *nominator) deleteLocked(pod *v1.Pod) {
	node, ok := n.nodeOf[pod.UID]
	if !ok {
		return
	}
	delete(n.nodeOf, pod.UID)
	pods := n.byNode[node]
	for i, pi := range pods {
		if pi.Pod.UID == pod.UID {
			pods = append(pods[:i:i], pods[i+1:]...)
			break
		}
	}
	if len(pods) == 0 {
		delete(n.byNode, node)
	} else {
		n.byNode[node] = pods
	}
	n.count.Add(-1)
}

// update follows a pod update; an update that does not mention a
// nominated node keeps the one the scheduler set (the status patch may
// not have arrived yet).
func (n *nominator) update(old *v1.Pod, pi *framework.PodInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ni *framework.NominatingInfo
	if old.Status.NominatedNodeName == "" && pi.Pod.Status.NominatedNodeName == "" {
		if node, ok := n.nodeOf[old.UID]; ok {
			ni = &framework.NominatingInfo{NominatedNodeName: node, NominatingMode: framework.ModeOverride}
		}
	}
	n.addLocked(pi, ni)
}

// NominatedPodsForNode returns the pods nominated to a node.
func (n *nominator) NominatedPodsForNode(node string) []*framework.PodInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	pods := n.byNode[node]
	if len(pods) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), pods...)
}

// HasNominatedPods is true when some pod is nominated.
func (n *nominator) HasNominatedPods() bool { return n.count.Load() > 0 }
