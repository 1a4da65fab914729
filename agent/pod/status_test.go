package pod

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

// Runtime states for tests.
func readySandbox(id string) *sandbox {
	return &sandbox{id: id, ready: true, ips: []string{"10.42.0.7"}, createdAt: t0}
}

func runningC(id, name string, restarts int32, started time.Time) *container {
	return &container{id: id, name: name, sandboxID: "sb", restartCount: restarts, state: runtimeapi.ContainerState_CONTAINER_RUNNING,
		createdAt: started, startedAt: started, imageRef: "docker.io/library/busybox@sha256:abc", hash: containerHash(&corev1.Container{Image: "busybox"})}
}

func exitedC(id, name string, restarts, code int32, started, finished time.Time) *container {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	k := runningC(id, name, restarts, started)
	k.state, k.exitCode, k.reason, k.finishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, code, reason, finished
	return k
}

func specPod(policy corev1.RestartPolicy, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: corev1.PodSpec{RestartPolicy: policy}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	return p
}

func input(pod *corev1.Pod, rt *podRuntime) *statusInput {
	return &statusInput{
		pod: pod, old: pod.Status, rt: rt, reasons: map[string]*startError{},
		started: func(string) bool { return true }, ready: func(string) bool { return true },
		hostIPs: []string{"192.0.2.1"}, runtimeName: "containerd", now: t0.Add(time.Minute),
	}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestStatusPending(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "b", "a")
	st := computeStatus(input(pod, &podRuntime{}))
	if st.Phase != corev1.PodPending || st.PodIP != "" || st.HostIP != "192.0.2.1" || st.StartTime == nil || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status %+v", st)
	}
	if len(st.ContainerStatuses) != 2 || st.ContainerStatuses[0].Name != "a" {
		t.Fatalf("statuses not sorted by name: %v", st.ContainerStatuses)
	}
	for _, cs := range st.ContainerStatuses {
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "ContainerCreating" || cs.Ready || cs.Started == nil || *cs.Started || cs.Image != "busybox" {
			t.Errorf("container %+v", cs)
		}
	}
	for typ, want := range map[corev1.PodConditionType]string{
		corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True", corev1.PodReady: "False", corev1.ContainersReady: "False", corev1.PodScheduled: "True",
	} {
		if c := condition(st, typ); string(c.Status) != want {
			t.Errorf("%s = %s, want %s", typ, c.Status, want)
		}
	}
	if c := condition(st, corev1.PodReady); c.Reason != "ContainersNotReady" || c.Message != "containers with unready status: [b a]" {
		t.Errorf("Ready %+v", c)
	}
}

func TestStatusRunning(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	rt := &podRuntime{sandboxes: []*sandbox{readySandbox("sb")}, containers: []*container{runningC("id2", "c", 1, t0.Add(30*time.Second)), exitedC("id1", "c", 0, 1, t0, t0.Add(20*time.Second))}}
	in := input(pod, rt)
	in.ready = func(string) bool { return false }
	st := computeStatus(in)
	cs := st.ContainerStatuses[0]
	if st.Phase != corev1.PodRunning || st.PodIP != "10.42.0.7" || cs.State.Running == nil || cs.RestartCount != 1 || cs.Ready || !*cs.Started ||
		cs.ContainerID != "containerd://id2" || cs.ImageID != "docker.io/library/busybox@sha256:abc" || cs.Resources == nil {
		t.Errorf("status %+v", cs)
	}
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 || last.ContainerID != "containerd://id1" || last.Reason != "Error" {
		t.Errorf("last state %+v", cs.LastTerminationState)
	}
	if c := condition(st, corev1.ContainersReady); c.Status != "False" || c.Message != "containers with unready status: [c]" {
		t.Errorf("ContainersReady %+v", c)
	}
	in.ready = func(string) bool { return true }
	in.old = st
	st2 := computeStatus(in)
	if c := condition(st2, corev1.PodReady); c.Status != "True" || !c.LastTransitionTime.Equal(&metav1.Time{Time: in.now.Truncate(time.Second)}) {
		t.Errorf("Ready %+v", c)
	}
	if a, b := condition(st, corev1.PodScheduled), condition(st2, corev1.PodScheduled); !a.LastTransitionTime.Equal(&b.LastTransitionTime) {
		t.Error("an unchanged condition got a new transition time")
	}
}

func TestStatusCrashLoop(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	rt := &podRuntime{sandboxes: []*sandbox{readySandbox("sb")}, containers: []*container{exitedC("id2", "c", 1, 1, t0, t0.Add(time.Second)), exitedC("id1", "c", 0, 1, t0, t0)}}
	in := input(pod, rt)
	in.reasons["c"] = &startError{"CrashLoopBackOff", "back-off 10s restarting failed container=c pod=p_ns(u)"}
	st := computeStatus(in)
	cs := st.ContainerStatuses[0]
	if st.Phase != corev1.PodRunning || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 1 ||
		cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != "containerd://id2" {
		t.Errorf("status %+v phase %s", cs, st.Phase)
	}
}

func TestStatusFinished(t *testing.T) {
	for _, tt := range []struct {
		policy corev1.RestartPolicy
		codes  []int32
		want   corev1.PodPhase
	}{
		{corev1.RestartPolicyNever, []int32{0, 0}, corev1.PodSucceeded},
		{corev1.RestartPolicyNever, []int32{0, 2}, corev1.PodFailed},
		{corev1.RestartPolicyOnFailure, []int32{0, 0}, corev1.PodSucceeded},
		{corev1.RestartPolicyOnFailure, []int32{0, 1}, corev1.PodRunning},
		{corev1.RestartPolicyAlways, []int32{0, 0}, corev1.PodRunning},
	} {
		pod := specPod(tt.policy, "a", "b")
		rt := &podRuntime{containers: []*container{exitedC("1", "a", 0, tt.codes[0], t0, t0), exitedC("2", "b", 0, tt.codes[1], t0, t0)}}
		st := computeStatus(input(pod, rt))
		if st.Phase != tt.want {
			t.Errorf("%s %v: %s, want %s", tt.policy, tt.codes, st.Phase, tt.want)
		}
		if tt.want == corev1.PodSucceeded {
			if c := condition(st, corev1.PodReady); c.Status != "False" || c.Reason != "PodCompleted" {
				t.Errorf("Ready %+v", c)
			}
			if c := condition(st, corev1.PodInitialized); c.Status != "True" || c.Reason != "PodCompleted" {
				t.Errorf("Initialized %+v", c)
			}
		}
	}
}

func TestStatusInitContainers(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Spec.InitContainers = []corev1.Container{{Name: "i1", Image: "busybox"}, {Name: "i2", Image: "busybox"}}
	rt := &podRuntime{sandboxes: []*sandbox{readySandbox("sb")}, containers: []*container{runningC("2", "i2", 0, t0.Add(time.Second)), exitedC("1", "i1", 0, 0, t0, t0)}}
	st := computeStatus(input(pod, rt))
	if st.Phase != corev1.PodPending {
		t.Errorf("phase %s", st.Phase)
	}
	if cs := st.ContainerStatuses[0]; cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("container %+v", cs)
	}
	ics := st.InitContainerStatuses
	if len(ics) != 2 || ics[0].Name != "i1" || !ics[0].Ready || ics[0].State.Terminated == nil || ics[1].State.Running == nil || ics[1].Ready {
		t.Errorf("init statuses %+v", ics)
	}
	if c := condition(st, corev1.PodInitialized); c.Status != "False" || c.Reason != "ContainersNotInitialized" || c.Message != "containers with incomplete status: [i2]" {
		t.Errorf("Initialized %+v", c)
	}
}

func TestStatusLostContainer(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	st := computeStatus(input(pod, &podRuntime{}))
	cs := st.ContainerStatuses[0]
	if cs.RestartCount != 3 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.Reason != "ContainerStatusUnknown" ||
		cs.LastTerminationState.Terminated.ExitCode != 137 || cs.State.Waiting == nil || st.Phase != corev1.PodRunning {
		t.Errorf("status %+v phase %s", cs, st.Phase)
	}
}

func TestStatusKeepsOthers(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodSucceeded, NominatedNodeName: "n", QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{{Type: "example.com/gate", Status: "True"}, {Type: corev1.DisruptionTarget, Status: "True"}},
		PodIPs:     []corev1.PodIP{{IP: "10.42.0.9"}},
	}
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}}
	st := computeStatus(input(pod, &podRuntime{}))
	if st.Phase != corev1.PodSucceeded || st.NominatedNodeName != "n" || st.QOSClass != corev1.PodQOSBurstable || st.PodIP != "10.42.0.9" {
		t.Errorf("status %+v", st)
	}
	if len(st.Conditions) != 7 || st.Conditions[0].Type != "example.com/gate" || st.Conditions[1].Type != corev1.DisruptionTarget {
		t.Errorf("conditions %v", st.Conditions)
	}
}

func TestReadinessGates(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/a"}, {ConditionType: "example.com/b"}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: "example.com/a", Status: "False"}}
	rt := &podRuntime{sandboxes: []*sandbox{readySandbox("sb")}, containers: []*container{runningC("1", "c", 0, t0)}}
	st := computeStatus(input(pod, rt))
	c := condition(st, corev1.PodReady)
	want := `the status of pod readiness gate "example.com/a" is not "True", but False, corresponding condition of pod readiness gate "example.com/b" does not exist.`
	if c.Status != "False" || c.Reason != "ReadinessGatesNotReady" || c.Message != want {
		t.Errorf("Ready %+v", c)
	}
	if condition(st, corev1.ContainersReady).Status != "True" {
		t.Error("containers not ready")
	}
}

func TestPodPhaseSidecars(t *testing.T) {
	pod := specPod(corev1.RestartPolicyNever, "c")
	pod.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	killed := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143}}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	tests := []struct {
		name        string
		side, main  corev1.ContainerState
		sideStarted bool
		terminal    bool
		want        corev1.PodPhase
	}{
		{"sidecar starting", running, waiting, false, false, corev1.PodPending},
		{"both running", running, running, true, false, corev1.PodRunning},
		{"main done, sidecar killed", killed, done, false, true, corev1.PodSucceeded},
		{"main done, sidecar running", running, done, true, false, corev1.PodRunning},
	}
	for _, tt := range tests {
		info := []corev1.ContainerStatus{{Name: "side", State: tt.side, Started: ptr.To(tt.sideStarted)}, {Name: "c", State: tt.main}}
		if got := podPhase(pod, info, tt.terminal, tt.main.Waiting == nil); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPodPhaseInitFailure(t *testing.T) {
	failed := corev1.ContainerStatus{Name: "i", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	for policy, want := range map[corev1.RestartPolicy]corev1.PodPhase{corev1.RestartPolicyNever: corev1.PodFailed, corev1.RestartPolicyOnFailure: corev1.PodPending} {
		pod := specPod(policy, "c")
		pod.Spec.InitContainers = []corev1.Container{{Name: "i"}}
		info := []corev1.ContainerStatus{failed, {Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}}
		if got := podPhase(pod, info, false, false); got != want {
			t.Errorf("%s: %s, want %s", policy, got, want)
		}
	}
}

func TestFinalStatus(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	now := metav1.NewTime(t0)
	pod.DeletionTimestamp = &now
	rt := &podRuntime{containers: []*container{exitedC("1", "c", 0, 143, t0, t0)}}
	in := input(pod, rt)
	in.terminal = true
	st := computeStatus(in)
	finalStatus(in, &st)
	if st.Phase != corev1.PodFailed || condition(st, corev1.PodReady).Reason != "PodFailed" {
		t.Errorf("final status %+v", st)
	}
	pending := specPod(corev1.RestartPolicyAlways, "c")
	pending.DeletionTimestamp = &now
	in = input(pending, &podRuntime{})
	st = computeStatus(in)
	finalStatus(in, &st)
	if st.Phase != corev1.PodFailed || st.ContainerStatuses[0].State.Waiting == nil {
		t.Errorf("a pod that never started: %+v", st)
	}
}

func TestVolumeMountStatuses(t *testing.T) {
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "a", MountPath: "/a"}, {Name: "b", MountPath: "/b", ReadOnly: true}}}
	got := volumeMountStatuses(c)
	if len(got) != 2 || got[0].RecursiveReadOnly != nil || got[1].RecursiveReadOnly == nil || *got[1].RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled {
		t.Errorf("%+v", got)
	}
}

func TestFormatPod(t *testing.T) {
	if got := formatPod(specPod(corev1.RestartPolicyAlways)); got != "p_ns(u)" || !strings.HasSuffix(containerRef(specPod("", "c"), &corev1.Container{Name: "c"}).FieldPath, "containers{c}") {
		t.Errorf("%q", got)
	}
}
