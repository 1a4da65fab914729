package scheduler

import (
	v1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"berth/internal/informer"
	"berth/scheduler/framework"
)

// addHandlers wires the informers to the cache (pods on nodes, nodes) and
// the queue (pending pods this scheduler is responsible for), and retries
// unschedulable pods on the cluster events that may help them.
func (s *Scheduler) addHandlers(pods, nodes toolscache.SharedIndexInformer) error {
	regs := []func() (toolscache.ResourceEventHandlerRegistration, error){
		func() (toolscache.ResourceEventHandlerRegistration, error) {
			return pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
				FilterFunc: func(obj interface{}) bool {
					p := asPod(obj)
					return p != nil && p.Spec.NodeName != ""
				},
				Handler: toolscache.ResourceEventHandlerFuncs{
					AddFunc:    s.addAssignedPod,
					UpdateFunc: s.updateAssignedPod,
					DeleteFunc: s.deleteAssignedPod,
				},
			})
		},
		func() (toolscache.ResourceEventHandlerRegistration, error) {
			return pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
				FilterFunc: func(obj interface{}) bool {
					p := asPod(obj)
					return p != nil && p.Spec.NodeName == "" && p.Spec.SchedulerName == s.cfg.SchedulerName
				},
				Handler: toolscache.ResourceEventHandlerFuncs{
					AddFunc:    s.addPendingPod,
					UpdateFunc: s.updatePendingPod,
					DeleteFunc: s.deletePendingPod,
				},
			})
		},
		func() (toolscache.ResourceEventHandlerRegistration, error) {
			return nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    s.addNode,
				UpdateFunc: s.updateNode,
				DeleteFunc: s.deleteNode,
			})
		},
	}
	for _, reg := range regs {
		r, err := reg()
		if err != nil {
			return err
		}
		s.synced = append(s.synced, r.HasSynced)
	}
	return nil
}

// asPod unwraps a pod or a deleted pod's tombstone; nil for anything else.
func asPod(obj interface{}) *v1.Pod {
	p, _ := informer.Object[*v1.Pod](obj)
	return p
}

// asNode unwraps a node or a deleted node's tombstone; nil for anything else.
func asNode(obj interface{}) *v1.Node {
	n, _ := informer.Object[*v1.Node](obj)
	return n
}

func (s *Scheduler) addAssignedPod(obj interface{}) {
	pod := asPod(obj)
	if err := s.cache.AddPod(pod); err != nil {
		s.logger.Error("add pod to the scheduler cache", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	s.queue.DeleteNominatedPodIfExists(pod)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodAdd())
}

func (s *Scheduler) updateAssignedPod(oldObj, newObj interface{}) {
	old, cur := asPod(oldObj), asPod(newObj)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	oldInfo, curInfo, err := s.cache.UpdatePod(old, cur)
	if err != nil {
		s.logger.Error("update pod in the scheduler cache", "pod", cur.Namespace+"/"+cur.Name, "err", err)
		return
	}
	if oldInfo == nil {
		s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodAdd())
		return
	}
	if ev, ok := framework.AssignedPodUpdateEvent(oldInfo, curInfo); ok {
		s.queue.MoveAllToActiveOrBackoffQueue(ev)
	}
}

func (s *Scheduler) deleteAssignedPod(obj interface{}) {
	pod := asPod(obj)
	if pod == nil {
		return
	}
	if err := s.cache.RemovePod(pod); err != nil {
		s.logger.Debug("remove pod from the scheduler cache", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDelete())
}

func (s *Scheduler) addPendingPod(obj interface{}) {
	s.queue.Add(asPod(obj))
}

func (s *Scheduler) updatePendingPod(oldObj, newObj interface{}) {
	old, cur := asPod(oldObj), asPod(newObj)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if s.cache.IsAssumedPod(cur) {
		return
	}
	s.queue.Update(old, cur)
}

func (s *Scheduler) deletePendingPod(obj interface{}) {
	pod := asPod(obj)
	if pod == nil {
		return
	}
	s.queue.Delete(pod)
}

func (s *Scheduler) addNode(obj interface{}) {
	node := asNode(obj)
	s.cache.AddNode(node)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd())
}

func (s *Scheduler) updateNode(oldObj, newObj interface{}) {
	old, cur := asNode(oldObj), asNode(newObj)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	s.cache.UpdateNode(old, cur)
	for _, ev := range framework.NodeUpdateEvents(old, cur) {
		s.queue.MoveAllToActiveOrBackoffQueue(ev)
	}
}

func (s *Scheduler) deleteNode(obj interface{}) {
	node := asNode(obj)
	if node == nil {
		return
	}
	s.cache.RemoveNode(node)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventNodeDelete())
}
