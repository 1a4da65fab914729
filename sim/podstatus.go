package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Reasons of pod conditions and container states, as the kubelet's.
const (
	reasonContainersNotReady       = "ContainersNotReady"
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
	reasonPodCompleted             = "PodCompleted"
	reasonPodFailed                = "PodFailed"
	reasonContainerCreating        = "ContainerCreating"
	reasonPodInitializing          = "PodInitializing"
	reasonCompleted                = "Completed"
	reasonError                    = "Error"
)

// podStatus is the status the kubelet of a pod's node reports for the pod
// in state st: the kubelet's fields are set from st, the others (QoS
// class, nominated node, conditions of other writers, ...) are kept.
func podStatus(pod *corev1.Pod, st *podState, hostIP string, now time.Time) corev1.PodStatus {
	out := *pod.Status.DeepCopy()
	out.HostIP = hostIP
	out.HostIPs = []corev1.HostIP{{IP: hostIP}}
	if out.StartTime == nil {
		out.StartTime = mtime(st.seen)
	}
	switch {
	case pod.Spec.HostNetwork:
		out.PodIP, out.PodIPs = hostIP, []corev1.PodIP{{IP: hostIP}}
	case st.ip.IsValid():
		out.PodIP, out.PodIPs = st.ip.String(), []corev1.PodIP{{IP: st.ip.String()}}
	}

	out.InitContainerStatuses = initContainerStatuses(pod, st)
	out.ContainerStatuses = containerStatuses(pod, st)
	switch {
	case st.initDone.IsZero():
		out.Phase = corev1.PodPending
	case st.finished.IsZero():
		out.Phase = corev1.PodRunning
	case st.exitCode == 0:
		out.Phase = corev1.PodSucceeded
	default:
		out.Phase = corev1.PodFailed
	}
	out.Conditions = podConditions(pod, &out, st, now)
	return out
}

// containerID is the ID of a container's run.
func containerID(uid types.UID, name string, run int32) string {
	sum := sha256.Sum256([]byte(string(uid) + "/" + name + "/" + strconv.Itoa(int(run))))
	return "sim://" + hex.EncodeToString(sum[:])
}

// baseStatus is a container's status without its state.
func baseStatus(uid types.UID, c *corev1.Container, run int32, started bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: run}
	if started {
		cs.ImageID = "sim://" + c.Image
		cs.ContainerID = containerID(uid, c.Name, run)
	}
	return cs
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// initContainerStatuses reports the init containers, in spec order: all
// ran at once and exited 0; sidecars (restartPolicy Always) run alongside
// the containers, and stop with them.
func initContainerStatuses(pod *corev1.Pod, st *podState) []corev1.ContainerStatus {
	if len(pod.Spec.InitContainers) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		started := !st.initDone.IsZero()
		cs := baseStatus(pod.UID, c, 0, started)
		switch {
		case !started:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonPodInitializing}
			cs.Started = ptr.To(false)
		case isSidecar(c) && st.finished.IsZero():
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: *mtime(st.initDone)}
			cs.Ready, cs.Started = true, ptr.To(true)
		case isSidecar(c):
			cs.State.Terminated = terminated(0, st.initDone, st.finished, cs.ContainerID)
			cs.Started = ptr.To(false)
		default:
			cs.State.Terminated = terminated(0, st.initDone, st.initDone, cs.ContainerID)
			cs.Ready, cs.Started = true, ptr.To(false)
		}
		out = append(out, cs)
	}
	return out
}

// containerStatuses reports the containers, sorted by name as the kubelet
// does.
func containerStatuses(pod *corev1.Pod, st *podState) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	waiting := reasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		waiting = reasonPodInitializing
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		started := !st.initDone.IsZero()
		cs := baseStatus(pod.UID, c, st.restarts, started)
		switch {
		case !started:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
			cs.Started = ptr.To(false)
		case st.finished.IsZero():
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: *mtime(st.started)}
			cs.Ready, cs.Started = true, ptr.To(true)
		default:
			cs.State.Terminated = terminated(st.exitCode, st.started, st.finished, cs.ContainerID)
			cs.Started = ptr.To(false)
		}
		if st.last != nil && st.restarts > 0 {
			cs.LastTerminationState.Terminated = terminated(st.last.code, st.last.started, st.last.finished,
				containerID(pod.UID, c.Name, st.restarts-1))
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func terminated(code int32, started, finished time.Time, id string) *corev1.ContainerStateTerminated {
	reason := reasonCompleted
	if code != 0 {
		reason = reasonError
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, StartedAt: *mtime(started), FinishedAt: *mtime(finished), ContainerID: id,
	}
}

// podConditions returns the conditions of other writers, then the
// kubelet's: PodReadyToStartContainers, Initialized, Ready,
// ContainersReady, PodScheduled. A condition keeps its lastTransitionTime
// while its status stays the same.
func podConditions(pod *corev1.Pod, status *corev1.PodStatus, st *podState, now time.Time) []corev1.PodCondition {
	old := pod.Status.Conditions
	out := make([]corev1.PodCondition, 0, len(old)+5)
	for _, c := range old {
		if !kubeletPodCondition(c.Type) {
			out = append(out, c)
		}
	}
	sandbox := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if st.running() {
		sandbox.Status = corev1.ConditionTrue
	}
	containersReady := containersReadyCondition(pod, status)
	ready := containersReady
	ready.Type = corev1.PodReady
	if ready.Status == corev1.ConditionTrue {
		ready = readinessGates(pod, out)
	}
	kubelet := []corev1.PodCondition{
		sandbox,
		initializedCondition(pod, status),
		ready,
		containersReady,
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	t := metav1.NewTime(now.Truncate(time.Second))
	for _, c := range kubelet {
		c.LastTransitionTime = t
		for _, o := range old {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

func kubeletPodCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers:
		return true
	}
	return false
}

// initializedCondition is True once the init containers are done (with
// reason PodCompleted when the pod succeeded).
func initializedCondition(pod *corev1.Pod, status *corev1.PodStatus) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	switch {
	case status.Phase == corev1.PodSucceeded:
		c.Reason = reasonPodCompleted
	case status.Phase == corev1.PodPending && len(pod.Spec.InitContainers) > 0:
		var names []string
		for _, ic := range pod.Spec.InitContainers {
			names = append(names, ic.Name)
		}
		c.Status, c.Reason = corev1.ConditionFalse, reasonContainersNotInitialized
		c.Message = fmt.Sprintf("containers with incomplete status: %s", names)
	}
	return c
}

// containersReadyCondition is True when every container (sidecars
// included) is ready; False with PodCompleted or PodFailed once the pod is
// done.
func containersReadyCondition(pod *corev1.Pod, status *corev1.PodStatus) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	switch status.Phase {
	case corev1.PodSucceeded:
		c.Reason = reasonPodCompleted
		return c
	case corev1.PodFailed:
		c.Reason = reasonPodFailed
		return c
	}
	ready := map[string]bool{}
	for _, cs := range status.InitContainerStatuses {
		ready[cs.Name] = cs.Ready
	}
	for _, cs := range status.ContainerStatuses {
		ready[cs.Name] = cs.Ready
	}
	var unready []string
	for i := range pod.Spec.InitContainers {
		if ic := &pod.Spec.InitContainers[i]; isSidecar(ic) && !ready[ic.Name] {
			unready = append(unready, ic.Name)
		}
	}
	for _, ct := range pod.Spec.Containers {
		if !ready[ct.Name] {
			unready = append(unready, ct.Name)
		}
	}
	if len(unready) > 0 {
		c.Reason = reasonContainersNotReady
		c.Message = fmt.Sprintf("containers with unready status: %s", unready)
		return c
	}
	c.Status = corev1.ConditionTrue
	return c
}

// readinessGates is the Ready condition of a pod whose containers are
// ready: True unless a readiness gate's condition is missing or not True.
func readinessGates(pod *corev1.Pod, conditions []corev1.PodCondition) corev1.PodCondition {
	var msgs []string
	for _, g := range pod.Spec.ReadinessGates {
		var found *corev1.PodCondition
		for i := range conditions {
			if conditions[i].Type == g.ConditionType {
				found = &conditions[i]
			}
		}
		switch {
		case found == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(g.ConditionType)))
		case found.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(g.ConditionType), found.Status))
		}
	}
	if len(msgs) > 0 {
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reasonReadinessGatesNotReady, Message: strings.Join(msgs, ", ")}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}

// mtime is t as the API stores it (whole seconds).
func mtime(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.Truncate(time.Second))
	return &m
}

func ptrTo[T any](v T) *T { return &v }
