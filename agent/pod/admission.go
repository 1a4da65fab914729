package pod

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// checkAdmission is the kubelet's admission of a pod bound to the node
// (its general predicates): the pods already admitted plus this one must
// fit the node's allocatable resources, its node selector must match and
// its host ports must be free. It returns the rejection's reason and
// message, or "" if the pod may run.
func checkAdmission(pod *corev1.Pod, node *corev1.Node, others []*corev1.Pod) (string, string) {
	alloc := node.Status.Allocatable
	insufficient := func(name corev1.ResourceName, requested, used, capacity int64) (string, string) {
		return "OutOf" + string(name), fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
			name, requested, used, capacity)
	}
	if max := alloc.Pods().Value(); max > 0 && int64(len(others))+1 > max {
		return insufficient(corev1.ResourcePods, 1, int64(len(others)), max)
	}
	want := podRequests(pod)
	used := corev1.ResourceList{}
	for _, o := range others {
		for name, q := range podRequests(o) {
			sum := q.DeepCopy()
			if old, ok := used[name]; ok {
				sum.Add(old)
			}
			used[name] = sum
		}
	}
	value := func(list corev1.ResourceList, name corev1.ResourceName) int64 {
		q, ok := list[name]
		if !ok {
			return 0
		}
		if name == corev1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		w := value(want, name)
		if w == 0 {
			continue
		}
		if u, c := value(used, name), value(alloc, name); w+u > c {
			return insufficient(name, w, u, c)
		}
	}
	for _, rn := range sortedKeys(want) {
		if rn == corev1.ResourceCPU || rn == corev1.ResourceMemory || rn == corev1.ResourceEphemeralStorage || rn == corev1.ResourcePods {
			continue
		}
		if w := value(want, rn); w > 0 {
			if u, c := value(used, rn), value(alloc, rn); w+u > c {
				return insufficient(rn, w, u, c)
			}
		}
	}
	for k, v := range pod.Spec.NodeSelector {
		if node.Labels[k] != v {
			return "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
		}
	}
	type hostPort struct {
		proto corev1.Protocol
		port  int32
	}
	taken := map[hostPort][]string{}
	for _, o := range others {
		for _, c := range o.Spec.Containers {
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					k := hostPort{p.Protocol, p.HostPort}
					taken[k] = append(taken[k], p.HostIP)
				}
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			for _, ip := range taken[hostPort{p.Protocol, p.HostPort}] {
				if ip == p.HostIP || ip == "" || ip == "0.0.0.0" || p.HostIP == "" || p.HostIP == "0.0.0.0" {
					return "NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
				}
			}
		}
	}
	return "", ""
}

// admit runs the node's admission for a pod the first time it is synced
// and reports whether it may run. A pod a kubelet already started (it has
// a start time) was admitted before; a rejected pod ends Failed, as the
// kubelet reports it.
func (w *worker) admit(ctx context.Context, pod *corev1.Pod) bool {
	w.mu.Lock()
	admitted := w.admitted
	w.mu.Unlock()
	if admitted {
		return true
	}
	if w.rejected {
		return false
	}
	m := w.m
	setAdmitted := func() bool {
		w.mu.Lock()
		w.admitted = true
		w.mu.Unlock()
		return true
	}
	if pod.Status.StartTime != nil {
		return setAdmitted()
	}
	m.admitMu.Lock()
	defer m.admitMu.Unlock()
	node := m.node()
	if node == nil {
		m.log.Info("waiting for the node to register before admitting pods", "pod", pod.Namespace+"/"+pod.Name)
		w.syncAt(time.Now().Add(time.Second))
		return false
	}
	reason, msg := checkAdmission(pod, node, m.activePods(pod.UID))
	if reason == "" {
		return setAdmitted()
	}
	m.log.Info("pod rejected", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "message", msg)
	m.event(podRef(pod), corev1.EventTypeWarning, reason, "%s", msg)
	w.rejected = true
	w.setFinished()
	var conds []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		if !kubeletCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	start := mtime(m.now())
	st := corev1.PodStatus{
		Phase: corev1.PodFailed, Reason: reason, Message: "Pod was rejected: " + msg,
		QOSClass: qosClass(pod), StartTime: &start, Conditions: conds,
		NominatedNodeName: pod.Status.NominatedNodeName,
	}
	if err := w.putStatus(ctx, pod, st); err != nil {
		m.log.Error("write status of rejected pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		w.rejected = false // try again
		w.syncAt(time.Now().Add(m.cfg.ErrorResync))
	}
	return false
}
