package cache

import (
	"fmt"
	"log/slog"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth/scheduler/framework"
)

// Cache is the scheduler's view of the nodes and the pods on them:
// pods bound to nodes (from the informer) and pods assumed on a node by
// the scheduler before their binding is confirmed. Scheduling cycles work
// on a Snapshot of it, updated incrementally by UpdateSnapshot.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*framework.NodeInfo
	tree  *nodeTree
	pods  map[types.UID]*podState
	dirty map[string]struct{} // nodes changed since the last snapshot
	// nAssumed counts the assumed pods.
	nAssumed int
	reList   bool // the node order changed
	logger   *slog.Logger
}

type podState struct {
	info *framework.PodInfo
	// assumed is true until the informer reports the pod on its node.
	assumed         bool
	bindingFinished bool
}

// New returns an empty cache.
func New(logger *slog.Logger) *Cache {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		nodes:  map[string]*framework.NodeInfo{},
		tree:   newNodeTree(),
		pods:   map[types.UID]*podState{},
		dirty:  map[string]struct{}{},
		logger: logger,
	}
}

func (c *Cache) nodeInfo(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = framework.NewNodeInfo(nil)
		c.nodes[name] = ni
	}
	c.dirty[name] = struct{}{}
	return ni
}

func (c *Cache) addPodLocked(pi *framework.PodInfo) {
	c.nodeInfo(pi.Pod.Spec.NodeName).AddPodInfo(pi)
}

func (c *Cache) removePodLocked(pod *v1.Pod) error {
	name := pod.Spec.NodeName
	ni, ok := c.nodes[name]
	if !ok {
		return fmt.Errorf("node %q of pod %s/%s not found in the cache", name, pod.Namespace, pod.Name)
	}
	if err := ni.RemovePod(pod); err != nil {
		return err
	}
	c.dirty[name] = struct{}{}
	if len(ni.Pods) == 0 && ni.Node() == nil {
		delete(c.nodes, name)
	}
	return nil
}

// AssumePod records a pod on the node in pi.Pod.Spec.NodeName before its
// binding is done, so that the next scheduling cycle sees it.
func (c *Cache) AssumePod(pi *framework.PodInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pod := pi.Pod
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("pod %s/%s (%s) is already in the cache, so can't be assumed", pod.Namespace, pod.Name, pod.UID)
	}
	c.addPodLocked(pi)
	c.pods[pod.UID] = &podState{info: pi, assumed: true}
	c.nAssumed++
	return nil
}

// FinishBinding notes that an assumed pod's binding succeeded.
func (c *Cache) FinishBinding(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		ps.bindingFinished = true
	}
	return nil
}

// ForgetPod removes an assumed pod whose binding failed.
func (c *Cache) ForgetPod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok {
		return nil
	}
	if !ps.assumed {
		return fmt.Errorf("pod %s/%s was not assumed, so can't be forgotten", pod.Namespace, pod.Name)
	}
	if ps.info.Pod.Spec.NodeName != pod.Spec.NodeName {
		return fmt.Errorf("pod %s/%s was assumed on %s but forgotten on %s", pod.Namespace, pod.Name, ps.info.Pod.Spec.NodeName, pod.Spec.NodeName)
	}
	delete(c.pods, pod.UID)
	c.nAssumed--
	return c.removePodLocked(ps.info.Pod)
}

// AddPod records a pod the informer reports on a node; it confirms an
// assumed pod.
func (c *Cache) AddPod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pi := framework.NewPodInfo(pod)
	if ps, ok := c.pods[pod.UID]; ok {
		if !ps.assumed {
			return fmt.Errorf("pod %s/%s (%s) was already added", pod.Namespace, pod.Name, pod.UID)
		}
		if err := c.removePodLocked(ps.info.Pod); err != nil {
			return err
		}
		c.addPodLocked(pi)
		ps.info, ps.assumed = pi, false
		c.nAssumed--
		return nil
	}
	c.addPodLocked(pi)
	c.pods[pod.UID] = &podState{info: pi}
	return nil
}

// UpdatePod follows the update of a pod on a node; it returns the old and
// new information (to tell what changed).
func (c *Cache) UpdatePod(old, cur *v1.Pod) (oldInfo, curInfo *framework.PodInfo, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[old.UID]
	if !ok {
		pi := framework.NewPodInfo(cur)
		c.addPodLocked(pi)
		c.pods[cur.UID] = &podState{info: pi}
		return nil, pi, nil
	}
	if err := c.removePodLocked(ps.info.Pod); err != nil {
		return nil, nil, err
	}
	pi := framework.NewPodInfo(cur)
	c.addPodLocked(pi)
	oldInfo = ps.info
	if ps.assumed {
		c.nAssumed--
	}
	ps.info, ps.assumed = pi, false
	return oldInfo, pi, nil
}

// RemovePod forgets a pod that was deleted (or left its node).
func (c *Cache) RemovePod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok {
		return fmt.Errorf("pod %s/%s (%s) not found in the cache", pod.Namespace, pod.Name, pod.UID)
	}
	delete(c.pods, pod.UID)
	if ps.assumed {
		c.nAssumed--
	}
	return c.removePodLocked(ps.info.Pod)
}

// IsAssumedPod is true for a pod assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *v1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	return ok && ps.assumed
}

// GetPod returns the cached version of a pod.
func (c *Cache) GetPod(pod *v1.Pod) (*v1.Pod, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		return ps.info.Pod, true
	}
	return nil, false
}

// AddNode records a node.
func (c *Cache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(node.Name).SetNode(node)
	c.tree.add(node)
	c.reList = true
}

// UpdateNode follows a node update.
func (c *Cache) UpdateNode(old, cur *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(cur.Name).SetNode(cur)
	if c.tree.update(old, cur) {
		c.reList = true
	}
}

// RemoveNode forgets a node; its pods stay until they are deleted.
func (c *Cache) RemoveNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ni, ok := c.nodes[node.Name]; ok {
		ni.RemoveNode()
		if len(ni.Pods) == 0 {
			delete(c.nodes, node.Name)
		}
		c.dirty[node.Name] = struct{}{}
	}
	c.tree.remove(node)
	c.reList = true
}

// UpdateSnapshot brings a snapshot up to date with the cache, copying only
// the nodes that changed since the previous call. One snapshot per cache.
func (c *Cache) UpdateSnapshot(s *framework.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 && !c.reList {
		return
	}
	for name := range c.dirty {
		if ni, ok := c.nodes[name]; ok && ni.Node() != nil {
			s.Set(ni.Snapshot())
		} else {
			s.Delete(name)
		}
	}
	clear(c.dirty)
	if c.reList {
		c.reList = false
		s.Rebuild(c.tree.list())
		return
	}
	s.Commit()
}

// NodeCount is the number of nodes.
func (c *Cache) NodeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tree.numNodes
}

// Counts returns the number of pods the informer reported on nodes and
// the number of pods assumed and not yet confirmed.
func (c *Cache) Counts() (bound, assumed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods) - c.nAssumed, c.nAssumed
}

// PodCount is the number of pods (assumed ones included).
func (c *Cache) PodCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}
