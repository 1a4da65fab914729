package pod

import (
	"context"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// relistLoop lists the node's sandboxes and containers every
// RelistPeriod (the kubelet's PLEG) and wakes the worker of every pod
// whose runtime state changed: a container that exits is noticed within
// a period. Sandboxes and pod cgroups of pods the API no longer has are
// removed.
func (m *Manager) relistLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.RelistPeriod)
	defer t.Stop()
	prev := map[types.UID]runtimePod{}
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := m.relist(ctx)
		if err != nil {
			if !failing && ctx.Err() == nil {
				m.log.Warn("list the runtime's pods", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		for uid, rp := range cur {
			if prev[uid].fingerprint != rp.fingerprint {
				if w := m.worker(uid); w != nil {
					w.wake()
				}
			}
		}
		for uid := range prev {
			if _, ok := cur[uid]; !ok {
				if w := m.worker(uid); w != nil {
					w.wake()
				}
			}
		}
		prev = cur
		m.cleanupOrphans(cur)
	}
}

// relist returns a fingerprint of each pod's sandboxes and containers
// (their IDs and states).
func (m *Manager) relist(ctx context.Context) (map[types.UID]runtimePod, error) {
	sel := map[string]string{labelNode: m.cfg.NodeName}
	sbs, err := m.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	cs, err := m.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	parts := map[types.UID][]string{}
	keys := map[types.UID]string{}
	add := func(labels map[string]string, part string) {
		uid := types.UID(labels[LabelPodUID])
		parts[uid] = append(parts[uid], part)
		keys[uid] = labels[LabelPodNamespace] + "/" + labels[LabelPodName]
	}
	for _, sb := range sbs.Items {
		add(sb.Labels, "s"+sb.Id+"="+sb.State.String())
	}
	for _, c := range cs.Containers {
		add(c.Labels, "c"+c.Id+"="+c.State.String())
	}
	out := make(map[types.UID]runtimePod, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		out[uid] = runtimePod{fingerprint: strings.Join(p, ","), key: keys[uid]}
	}
	return out, nil
}

// runtimePod is what the relist notes of a pod.
type runtimePod struct {
	fingerprint string
	key         string // namespace/name
}

// cleanupOrphans starts a cleaning worker for every pod the runtime has
// and no worker knows (the API no longer has it), and removes pod cgroups
// of pods neither has.
func (m *Manager) cleanupOrphans(runtime map[types.UID]runtimePod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping.Load() {
		return
	}
	for uid, rp := range runtime {
		if _, ok := m.workers[uid]; ok || uid == "" {
			continue
		}
		if obj, ok, _ := m.pods.GetStore().GetByKey(rp.key); ok && obj.(*corev1.Pod).UID == uid {
			continue // its worker is on the way
		}
		m.log.Info("removing the sandboxes of a pod that is gone", "uid", uid)
		w := newWorker(m, uid)
		w.gone = true
		m.workers[uid] = w
		m.startWorker(w)
		w.wake()
	}
	cgs, err := m.cg.Pods()
	if err != nil {
		return
	}
	for _, uid := range cgs {
		if _, ok := m.workers[uid]; ok {
			continue
		}
		if _, ok := runtime[uid]; ok {
			continue
		}
		if err := m.cg.Remove(uid); err != nil {
			m.log.Warn("remove the cgroup of a pod that is gone", "uid", uid, "err", err)
		}
	}
}
