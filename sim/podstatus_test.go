package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func simplePod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			NodeName:      "sim-0",
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "web", Image: "web:1"}, {Name: "agent", Image: "agent:2"}},
		},
		Status: corev1.PodStatus{
			Phase:    corev1.PodPending,
			QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))},
			},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// summary renders what kubectl and controllers look at.
func summary(st corev1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ip=%s host=%s;", st.Phase, st.PodIP, st.HostIP)
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, "/%s", c.Reason)
		}
	}
	b.WriteString(";")
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for _, cs := range list {
			fmt.Fprintf(&b, " %s:", cs.Name)
			switch s := cs.State; {
			case s.Waiting != nil:
				fmt.Fprintf(&b, "waiting/%s", s.Waiting.Reason)
			case s.Running != nil:
				b.WriteString("running")
			case s.Terminated != nil:
				fmt.Fprintf(&b, "terminated/%d/%s", s.Terminated.ExitCode, s.Terminated.Reason)
			}
			fmt.Fprintf(&b, ",ready=%v,started=%v,restarts=%d", cs.Ready, ptr.Deref(cs.Started, false), cs.RestartCount)
		}
	}
	return b.String()
}

func TestPodStatus(t *testing.T) {
	ip := netip.MustParseAddr("10.42.0.5")
	running := &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0, ip: ip}
	withInit := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "setup", Image: "setup:1"},
			{Name: "proxy", Image: "proxy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
		}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		st   *podState
		want string
	}{
		{"pending", simplePod(), &podState{uid: "uid-1", seen: t0},
			"Pending ip= host=172.20.0.1; PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady PodScheduled=True; agent:waiting/ContainerCreating,ready=false,started=false,restarts=0 web:waiting/ContainerCreating,ready=false,started=false,restarts=0"},
		{"running", simplePod(), running,
			"Running ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True; agent:running,ready=true,started=true,restarts=0 web:running,ready=true,started=true,restarts=0"},
		{"host network", simplePod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0},
			"Running ip=172.20.0.1 host=172.20.0.1; PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True; agent:running,ready=true,started=true,restarts=0 web:running,ready=true,started=true,restarts=0"},
		{"pending with init containers", simplePod(withInit), &podState{uid: "uid-1", seen: t0},
			"Pending ip= host=172.20.0.1; PodReadyToStartContainers=False Initialized=False/ContainersNotInitialized Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady PodScheduled=True; setup:waiting/PodInitializing,ready=false,started=false,restarts=0 proxy:waiting/PodInitializing,ready=false,started=false,restarts=0 agent:waiting/PodInitializing,ready=false,started=false,restarts=0 web:waiting/PodInitializing,ready=false,started=false,restarts=0"},
		{"running with init containers", simplePod(withInit), running,
			"Running ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True; setup:terminated/0/Completed,ready=true,started=false,restarts=0 proxy:running,ready=true,started=true,restarts=0 agent:running,ready=true,started=true,restarts=0 web:running,ready=true,started=true,restarts=0"},
		{"succeeded", simplePod(withInit, func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			&podState{uid: "uid-1", seen: t0, initDone: t0, started: t0, finished: t0.Add(time.Second), ip: ip},
			"Succeeded ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=False Initialized=True/PodCompleted Ready=False/PodCompleted ContainersReady=False/PodCompleted PodScheduled=True; setup:terminated/0/Completed,ready=true,started=false,restarts=0 proxy:terminated/0/Completed,ready=false,started=false,restarts=0 agent:terminated/0/Completed,ready=false,started=false,restarts=0 web:terminated/0/Completed,ready=false,started=false,restarts=0"},
		{"failed", simplePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			&podState{uid: "uid-1", seen: t0, initDone: t0, started: t0, finished: t0.Add(time.Second), exitCode: 2, ip: ip},
			"Failed ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=False Initialized=True Ready=False/PodFailed ContainersReady=False/PodFailed PodScheduled=True; agent:terminated/2/Error,ready=false,started=false,restarts=0 web:terminated/2/Error,ready=false,started=false,restarts=0"},
		{"restarted", simplePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			&podState{uid: "uid-1", seen: t0, initDone: t0, started: t0.Add(time.Second), restarts: 1, ip: ip,
				last: &exit{code: 1, started: t0, finished: t0.Add(time.Second)}},
			"Running ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True; agent:running,ready=true,started=true,restarts=1 web:running,ready=true,started=true,restarts=1"},
		{"readiness gate missing", simplePod(func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		}), running,
			"Running ip=10.42.0.5 host=172.20.0.1; PodReadyToStartContainers=True Initialized=True Ready=False/ReadinessGatesNotReady ContainersReady=True PodScheduled=True; agent:running,ready=true,started=true,restarts=0 web:running,ready=true,started=true,restarts=0"},
		{"readiness gate true", simplePod(func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
		}), running,
			"Running ip=10.42.0.5 host=172.20.0.1; example.com/lb=True PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True; agent:running,ready=true,started=true,restarts=0 web:running,ready=true,started=true,restarts=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podStatus(tc.pod, tc.st, "172.20.0.1", t0.Add(5*time.Second))
			if s := summary(got); s != tc.want {
				t.Errorf("status\n got %s\nwant %s", s, tc.want)
			}
			if got.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("qosClass %q not kept", got.QOSClass)
			}
			if got.StartTime == nil || !got.StartTime.Time.Equal(t0) {
				t.Errorf("startTime %v, want %s", got.StartTime, t0)
			}
			for _, c := range got.Conditions {
				if c.Type == corev1.PodScheduled && !c.LastTransitionTime.Time.Equal(t0.Add(-time.Minute)) {
					t.Errorf("PodScheduled lastTransitionTime %s, want the scheduler's", c.LastTransitionTime)
				}
			}
			// Writing the same state again changes nothing.
			again := tc.pod.DeepCopy()
			again.Status = got
			if st2 := podStatus(again, tc.st, "172.20.0.1", t0.Add(time.Hour)); !apiequality.Semantic.DeepEqual(st2, got) {
				t.Errorf("status not stable:\n%+v\n%+v", st2, got)
			}
		})
	}
}

func TestPodStatusDetails(t *testing.T) {
	pod := simplePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure })
	st := &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0.Add(3 * time.Second), restarts: 2,
		last: &exit{code: 7, started: t0.Add(time.Second), finished: t0.Add(2 * time.Second)}, ip: netip.MustParseAddr("10.42.0.9")}
	got := podStatus(pod, st, "172.20.0.1", t0.Add(5*time.Second))
	cs := got.ContainerStatuses[1]
	if cs.Name != "web" || cs.Image != "web:1" || cs.ImageID != "sim://web:1" || !strings.HasPrefix(cs.ContainerID, "sim://") || len(cs.ContainerID) != 6+64 {
		t.Errorf("container status %+v", cs)
	}
	if !cs.State.Running.StartedAt.Time.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("startedAt %s", cs.State.Running.StartedAt)
	}
	last := cs.LastTerminationState.Terminated
	if last == nil || last.ExitCode != 7 || last.Reason != "Error" || last.ContainerID == cs.ContainerID || last.ContainerID != containerID("uid-1", "web", 1) {
		t.Errorf("last state %+v (current %s)", last, cs.ContainerID)
	}
	if len(got.PodIPs) != 1 || got.PodIPs[0].IP != "10.42.0.9" || len(got.HostIPs) != 1 || got.HostIPs[0].IP != "172.20.0.1" {
		t.Errorf("podIPs %v hostIPs %v", got.PodIPs, got.HostIPs)
	}
	// A condition whose status changes gets a new transition time; one of
	// another writer is kept as it is.
	pod.Status = got
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager"})
	st.finished, st.exitCode = t0.Add(10*time.Second), 137
	later := podStatus(pod, st, "172.20.0.1", t0.Add(10*time.Second))
	for _, c := range later.Conditions {
		switch c.Type {
		case corev1.PodReady:
			if c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Time.Equal(t0.Add(10*time.Second)) {
				t.Errorf("Ready %+v", c)
			}
		case corev1.PodInitialized:
			if !c.LastTransitionTime.Time.Equal(t0.Add(5 * time.Second)) {
				t.Errorf("Initialized moved: %+v", c)
			}
		}
	}
	if later.Conditions[0].Type != corev1.DisruptionTarget || later.Conditions[0].Reason != "DeletionByTaintManager" {
		t.Errorf("other writer's condition lost: %+v", later.Conditions)
	}
	if later.Phase != corev1.PodFailed {
		t.Errorf("killed pod phase %s, want Failed", later.Phase)
	}
}

func TestRecoverState(t *testing.T) {
	ip := netip.MustParseAddr("10.42.0.5")
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		st     *podState
	}{
		{"pending", corev1.RestartPolicyAlways, &podState{uid: "uid-1", seen: t0}},
		{"running", corev1.RestartPolicyAlways, &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0, ip: ip}},
		{"restarted", corev1.RestartPolicyOnFailure, &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0.Add(4 * time.Second), restarts: 3, ip: ip,
			last: &exit{code: 1, started: t0.Add(2 * time.Second), finished: t0.Add(4 * time.Second)}}},
		{"failed", corev1.RestartPolicyNever, &podState{uid: "uid-1", seen: t0, initDone: t0, started: t0, finished: t0.Add(time.Second), exitCode: 4, ip: ip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := simplePod(func(p *corev1.Pod) {
				p.Spec.RestartPolicy = tc.policy
				p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "setup:1"}}
			})
			pod.Status = podStatus(pod, tc.st, "172.20.0.1", t0.Add(5*time.Second))
			got := recoverState(pod, t0.Add(time.Hour))
			if got.uid != tc.st.uid || !got.seen.Equal(tc.st.seen) || !got.initDone.Equal(tc.st.initDone) ||
				!got.started.Equal(tc.st.started) || got.restarts != tc.st.restarts || !got.finished.Equal(tc.st.finished) ||
				got.exitCode != tc.st.exitCode || got.ip != tc.st.ip || (got.last == nil) != (tc.st.last == nil) {
				t.Errorf("recovered %+v\nwant %+v", got, tc.st)
			}
			// And the recovered state reports the same status: a restarted
			// simulator writes nothing.
			if again := podStatus(pod, got, "172.20.0.1", t0.Add(time.Hour)); !apiequality.Semantic.DeepEqual(again, pod.Status) {
				t.Errorf("status after recovery differs:\n%s\n%s", summary(again), summary(pod.Status))
			}
		})
	}
}
