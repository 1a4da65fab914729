package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Event reasons of the kubelet (pkg/kubelet/events).
const (
	eventPulling             = "Pulling"
	eventPulled              = "Pulled"
	eventFailed              = "Failed"
	eventBackOff             = "BackOff"
	eventNeverPull           = "ErrImageNeverPull"
	eventInspectFailed       = "InspectFailed"
	eventCreated             = "Created"
	eventStarted             = "Started"
	eventKilling             = "Killing"
	eventFailedPostStartHook = "FailedPostStartHook"
	eventFailedPreStopHook   = "FailedPreStopHook"
	eventSandboxChanged      = "SandboxChanged"
	eventFailedSandbox       = "FailedCreatePodSandBox"
	eventFailedMount         = "FailedMount"
)

// Waiting reasons of containers (the kubelet's errors).
const (
	reasonContainerCreating  = "ContainerCreating"
	reasonPodInitializing    = "PodInitializing"
	reasonCrashLoopBackOff   = "CrashLoopBackOff"
	reasonErrImagePull       = "ErrImagePull"
	reasonImagePullBackOff   = "ImagePullBackOff"
	reasonErrImageNeverPull  = "ErrImageNeverPull"
	reasonInvalidImageName   = "InvalidImageName"
	reasonCreateConfigError  = "CreateContainerConfigError"
	reasonCreateError        = "CreateContainerError"
	reasonRunContainerError  = "RunContainerError"
	reasonPostStartHookError = "PostStartHookError"
	reasonStatusUnknown      = "ContainerStatusUnknown"
)

// podRef is the pod as the object of events.
func podRef(pod *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
}

// containerRef is a container of the pod as the object of events.
func containerRef(pod *corev1.Pod, c *corev1.Container) *corev1.ObjectReference {
	ref := podRef(pod)
	ref.FieldPath = fmt.Sprintf("spec.containers{%s}", c.Name)
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			ref.FieldPath = fmt.Sprintf("spec.initContainers{%s}", c.Name)
		}
	}
	return ref
}

// event records an event, if the manager has a recorder.
func (m *Manager) event(ref *corev1.ObjectReference, eventType, reason, format string, args ...any) {
	if m.cfg.Recorder == nil {
		return
	}
	m.cfg.Recorder.Eventf(ref, eventType, reason, format, args...)
}

// formatPod names a pod as the kubelet's messages do: name_namespace(uid).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
