package queue

import (
	"container/heap"

	"berth/scheduler/framework"
)

// podHeap is a heap of pods keyed by "namespace/name", with lookups.
type podHeap struct {
	items []entry
	index map[string]int
	less  func(a, b *framework.QueuedPodInfo) bool
}

type entry struct {
	pi  *framework.QueuedPodInfo
	key string
}

func newPodHeap(less func(a, b *framework.QueuedPodInfo) bool) *podHeap {
	return &podHeap{index: map[string]int{}, less: less}
}

// heap.Interface, on the items.
type heapItems podHeap

func (h *heapItems) Len() int           { return len(h.items) }
func (h *heapItems) Less(i, j int) bool { return h.less(h.items[i].pi, h.items[j].pi) }
func (h *heapItems) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.items[i].key] = i
	h.index[h.items[j].key] = j
}
func (h *heapItems) Push(x any) {
	e := x.(entry)
	h.index[e.key] = len(h.items)
	h.items = append(h.items, e)
}
func (h *heapItems) Pop() any {
	last := len(h.items) - 1
	e := h.items[last]
	h.items[last] = entry{}
	h.items = h.items[:last]
	delete(h.index, e.key)
	return e
}

func (h *podHeap) Len() int { return len(h.items) }

// AddOrUpdate inserts a pod, or replaces the one with the same key.
func (h *podHeap) AddOrUpdate(pi *framework.QueuedPodInfo) {
	k := key(pi.Pod)
	if i, ok := h.index[k]; ok {
		h.items[i].pi = pi
		heap.Fix((*heapItems)(h), i)
		return
	}
	heap.Push((*heapItems)(h), entry{pi: pi, key: k})
}

// Get returns the pod with a key.
func (h *podHeap) Get(k string) (*framework.QueuedPodInfo, bool) {
	if i, ok := h.index[k]; ok {
		return h.items[i].pi, true
	}
	return nil, false
}

// Delete removes the pod with a key.
func (h *podHeap) Delete(k string) bool {
	i, ok := h.index[k]
	if !ok {
		return false
	}
	heap.Remove((*heapItems)(h), i)
	return true
}

// Peek returns the first pod.
func (h *podHeap) Peek() *framework.QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0].pi
}

// Pop removes and returns the first pod.
func (h *podHeap) Pop() *framework.QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return heap.Pop((*heapItems)(h)).(entry).pi
}

// List returns the pods in no particular order.
func (h *podHeap) List() []*framework.QueuedPodInfo {
	out := make([]*framework.QueuedPodInfo, len(h.items))
	for i := range h.items {
		out[i] = h.items[i].pi
	}
	return out
}
