package pod

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// statusInput is what a pod's status is computed from.
type statusInput struct {
	pod *corev1.Pod
	// old is the pod's previous status: the last one written, or the API's.
	old corev1.PodStatus
	rt  *podRuntime
	// reasons are why containers that should run are waiting (start
	// errors, back-off), by container name.
	reasons map[string]*startError
	// started and ready are the probes' verdicts on running containers.
	started, ready func(container string) bool
	hostIPs        []string
	runtimeName    string
	now            time.Time
	// terminal: the pod's containers will not run again (deleted, or
	// finished by its restart policy).
	terminal bool
}

// mtime is t as the API keeps it (whole seconds).
func mtime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// computeStatus is the pod's status as the kubelet reports it
// (generateAPIPodStatus): fields the kubelet does not own are kept.
func computeStatus(in *statusInput) corev1.PodStatus {
	pod, old := in.pod, in.old
	s := corev1.PodStatus{
		NominatedNodeName:     old.NominatedNodeName,
		ResourceClaimStatuses: old.ResourceClaimStatuses,
		QOSClass:              qosClass(pod),
		StartTime:             old.StartTime,
	}
	if s.StartTime == nil {
		t := mtime(in.now)
		s.StartTime = &t
	}
	var podIPs []string
	switch sb := in.rt.sandbox(); {
	case pod.Spec.HostNetwork:
		podIPs = firstN(in.hostIPs, 1)
	case sb != nil && sb.ready:
		podIPs = sb.ips
	}
	for _, ip := range podIPs {
		s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(s.PodIPs) == 0 { // the sandbox is gone: the pod keeps its address
		for _, ip := range in.rt.lastIPs {
			s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if len(s.PodIPs) == 0 {
		s.PodIPs = old.PodIPs
	}
	if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	}
	for _, ip := range in.hostIPs {
		s.HostIPs = append(s.HostIPs, corev1.HostIP{IP: ip})
	}
	if len(s.HostIPs) > 0 {
		s.HostIP = s.HostIPs[0].IP
	} else {
		s.HostIP, s.HostIPs = old.HostIP, old.HostIPs
	}
	s.ContainerStatuses = containerStatuses(in, pod.Spec.Containers, old.ContainerStatuses, false)
	s.InitContainerStatuses = containerStatuses(in, pod.Spec.InitContainers, old.InitContainerStatuses, true)

	all := append(append([]corev1.ContainerStatus{}, s.ContainerStatuses...), s.InitContainerStatuses...)
	s.Phase = podPhase(pod, all, in.terminal, hasActiveRegularContainer(pod, in.rt))
	if s.Phase != corev1.PodSucceeded && s.Phase != corev1.PodFailed {
		switch {
		case terminalPhase(old.Phase):
			s.Phase = old.Phase
		case terminalPhase(pod.Status.Phase):
			s.Phase = pod.Status.Phase
		}
	}
	if s.Phase == old.Phase {
		s.Reason, s.Message = old.Reason, old.Message
	}
	s.Conditions = conditions(in, &s, all)
	return s
}

func terminalPhase(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// hasActiveRegularContainer reports whether a regular container was made
// in the pod's current sandbox: the pod has initialized.
func hasActiveRegularContainer(pod *corev1.Pod, rt *podRuntime) bool {
	sb := rt.sandbox()
	if sb == nil {
		return false
	}
	for _, c := range pod.Spec.Containers {
		for _, k := range rt.instances(c.Name) {
			if k.sandboxID == sb.id {
				return true
			}
		}
	}
	return false
}

// volumeMountStatuses are the container's mounts as its status lists them.
func volumeMountStatuses(c *corev1.Container) []corev1.VolumeMountStatus {
	var out []corev1.VolumeMountStatus
	for _, vm := range c.VolumeMounts {
		st := corev1.VolumeMountStatus{Name: vm.Name, MountPath: vm.MountPath, ReadOnly: vm.ReadOnly}
		if vm.ReadOnly {
			st.RecursiveReadOnly = ptr.To(corev1.RecursiveReadOnlyDisabled)
		}
		out = append(out, st)
	}
	return out
}

// containerStatuses are the statuses of the init or regular containers
// specs, as the kubelet converts them (convertToAPIContainerStatuses and
// the probe manager's started and ready).
func containerStatuses(in *statusInput, specs []corev1.Container, previous []corev1.ContainerStatus, isInit bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	pod := in.pod
	old := map[string]*corev1.ContainerStatus{}
	for i := range previous {
		old[previous[i].Name] = &previous[i]
	}
	waiting := reasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		waiting = reasonPodInitializing
	}
	statuses := map[string]*corev1.ContainerStatus{}
	for i := range specs {
		c := &specs[i]
		st := &corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, VolumeMounts: volumeMountStatuses(c),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}},
		}
		if o := old[c.Name]; o != nil {
			if o.State.Terminated != nil {
				st = o.DeepCopy()
			} else {
				st.RestartCount = o.RestartCount
				st.LastTerminationState = *o.LastTerminationState.DeepCopy()
			}
		}
		statuses[c.Name] = st
		if in.rt.latest(c.Name) != nil {
			continue
		}
		// The runtime lost a container that used to run (removed, or the
		// node restarted): it terminated, in a way nobody knows.
		if o := old[c.Name]; o != nil && o.State.Running != nil && st.State.Waiting != nil &&
			st.State.Waiting.Reason == waiting && st.LastTerminationState.Terminated == nil {
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				Reason:   reasonStatusUnknown,
				Message:  "The container could not be located when the pod was deleted.  The container used to be Running",
				ExitCode: 137,
			}
			if pod.DeletionTimestamp == nil {
				st.RestartCount++
			}
		}
	}
	for i := range specs {
		c := &specs[i]
		inst := in.rt.instances(c.Name)
		if len(inst) == 0 {
			continue
		}
		st := convertStatus(in, c, inst[0], old[c.Name])
		if len(inst) > 1 {
			st.LastTerminationState = convertStatus(in, c, inst[1], nil).State
		}
		statuses[c.Name] = st
	}
	for i := range specs {
		c := &specs[i]
		latest := in.rt.latest(c.Name)
		if isInit && latest != nil && latest.exited() && latest.exitCode == 0 && !isSidecar(c) {
			continue
		}
		if !shouldRestart(pod, c, latest) {
			continue
		}
		reason := in.reasons[c.Name]
		if reason == nil {
			continue
		}
		st := statuses[c.Name]
		if st.State.Terminated != nil {
			st.LastTerminationState = st.State
		}
		st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason.reason, Message: reason.message}}
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		c := &specs[i]
		st := statuses[c.Name]
		setStartedAndReady(in, c, st, isInit)
		out = append(out, *st)
	}
	if !isInit {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	return out
}

// convertStatus is the status of one instance of a container.
func convertStatus(in *statusInput, c *corev1.Container, k *container, old *corev1.ContainerStatus) *corev1.ContainerStatus {
	id := in.runtimeName + "://" + k.id
	st := &corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: k.imageRef, ContainerID: id,
		RestartCount: k.restartCount, VolumeMounts: volumeMountStatuses(c),
	}
	switch {
	case k.running():
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: mtime(k.startedAt)}
		st.Resources = c.Resources.DeepCopy() // in-place resize is beta in 1.33: the kubelet reports them
	case k.exited():
		st.State.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: k.exitCode, Reason: k.reason, Message: k.message,
			StartedAt: mtime(k.startedAt), FinishedAt: mtime(k.finishedAt), ContainerID: id,
		}
		st.Resources = c.Resources.DeepCopy()
	case k.state == runtimeapi.ContainerState_CONTAINER_CREATED: // waiting to run
		st.State.Waiting = &corev1.ContainerStateWaiting{}
		st.Resources = c.Resources.DeepCopy()
	default:
		if old != nil && old.State.Running != nil {
			st.State.Terminated = &corev1.ContainerStateTerminated{
				Reason: reasonStatusUnknown, Message: "The container could not be located when the pod was terminated", ExitCode: 137,
			}
			st.RestartCount = old.RestartCount + 1
		} else {
			st.State.Waiting = &corev1.ContainerStateWaiting{}
		}
	}
	return st
}

// setStartedAndReady sets what the kubelet's probe manager sets: started
// for running containers whose startup probe succeeded (or that have
// none); ready for those whose readiness probe succeeded (or that have
// none), and for init containers that completed.
func setStartedAndReady(in *statusInput, c *corev1.Container, st *corev1.ContainerStatus, isInit bool) {
	running := st.State.Running != nil
	started := running && in.started(c.Name)
	st.Started = ptr.To(started)
	st.Ready = false
	if isInit && !isSidecar(c) {
		st.Ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		return
	}
	if started {
		st.Ready = c.ReadinessProbe == nil || in.ready(c.Name)
	}
}

// shouldRestart is the kubelet's ShouldContainerBeRestarted: whether a
// container whose newest instance is latest (nil if none) is to be
// (re)started. Sidecars restart always.
func shouldRestart(pod *corev1.Pod, c *corev1.Container, latest *container) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	if latest == nil {
		return true
	}
	if latest.running() {
		return false
	}
	if !latest.exited() {
		return true // created or unknown
	}
	if isSidecar(c) {
		return true
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return latest.exitCode != 0
	}
	return true
}
