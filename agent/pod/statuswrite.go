package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeStatus computes the pod's status and writes it through
// pods/status if it changed.
func (w *worker) writeStatus(ctx context.Context, pod *corev1.Pod, rt *podRuntime, terminal bool) error {
	m := w.m
	base := w.base(pod)
	in := &statusInput{
		pod: pod, old: base, rt: rt, reasons: w.reasons,
		started: w.started, ready: w.ready,
		hostIPs: m.hostIPs(), runtimeName: m.runtimeName, now: m.now(), terminal: terminal,
	}
	st := computeStatus(in)
	if pod.DeletionTimestamp != nil {
		finalStatus(in, &st)
	}
	if terminalPhase(st.Phase) {
		w.setFinished()
	}
	return w.putStatus(ctx, pod, st)
}

// finalStatus completes the status of a deleted pod as the kubelet's
// TerminatePod does: containers the runtime lost are terminated with an
// unknown status and the pod ends Failed unless it succeeded.
func finalStatus(in *statusInput, st *corev1.PodStatus) {
	unknown := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: reasonStatusUnknown, Message: "The container could not be located when the pod was terminated", ExitCode: 137,
	}}
	initialized := false
	for _, cs := range st.ContainerStatuses {
		initialized = initialized || cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil
	}
	if initialized {
		for i := range st.ContainerStatuses {
			if st.ContainerStatuses[i].State.Terminated == nil {
				st.ContainerStatuses[i].State = unknown
			}
		}
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if cs.State.Terminated == nil && (cs.ContainerID != "" || cs.LastTerminationState.Terminated != nil) {
			cs.State = unknown
		}
	}
	if !terminalPhase(st.Phase) {
		st.Phase = corev1.PodFailed
	}
	all := append(append([]corev1.ContainerStatus{}, st.ContainerStatuses...), st.InitContainerStatuses...)
	st.Conditions = conditions(in, st, all)
}

// putStatus writes st as the pod's status unless the API already has it.
func (w *worker) putStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	m := w.m
	base := w.base(pod)
	if apiequality.Semantic.DeepEqual(&base, &st) {
		return nil
	}
	upd := pod.DeepCopy()
	if olderThan(w.statusRV, upd.ResourceVersion) {
		upd.ResourceVersion = w.statusRV
	}
	upd.Status = st
	for attempt := 0; ; attempt++ {
		res, err := m.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		switch {
		case err == nil:
			w.status, w.statusRV = res.Status.DeepCopy(), res.ResourceVersion
			w.mu.Lock()
			w.ownRV = res.ResourceVersion
			w.mu.Unlock()
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt < 3:
			fresh, gerr := m.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if gerr != nil {
				return fmt.Errorf("update pod status: %w", gerr)
			}
			if fresh.UID != pod.UID {
				return nil
			}
			// Keep what others wrote meanwhile: their conditions.
			var conds []corev1.PodCondition
			for _, c := range fresh.Status.Conditions {
				if !kubeletCondition(c.Type) {
					conds = append(conds, c)
				}
			}
			for _, c := range st.Conditions {
				if kubeletCondition(c.Type) {
					conds = append(conds, c)
				}
			}
			upd = fresh.DeepCopy()
			upd.Status = st
			upd.Status.Conditions = conds
		default:
			return fmt.Errorf("update pod status: %w", err)
		}
	}
}
