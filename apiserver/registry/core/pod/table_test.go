package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestColumns(t *testing.T) {
	cols := columns()
	names := []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}
	if len(cols) != len(names) {
		t.Fatalf("%d columns", len(cols))
	}
	for i, c := range cols {
		wide := i >= 5
		if c.Name != names[i] || c.Type != "string" || (c.Priority == 1) != wide || c.Description == "" {
			t.Errorf("column %d = %+v", i, c)
		}
	}
	if cols[0].Format != "name" {
		t.Errorf("name column format = %q", cols[0].Format)
	}
}

func TestCells(t *testing.T) {
	sidecar := corev1.ContainerRestartPolicyAlways
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	terminated := func(code int32, signal int32, reason string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Signal: signal, Reason: reason}}
	}
	now := metav1.Now()
	cases := []struct {
		name     string
		mutate   func(p *corev1.Pod)
		ready    string
		status   string
		restarts string
	}{
		{"pending", func(p *corev1.Pod) {}, "0/1", "Pending", "0"},
		{"scheduling gated", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: "False", Reason: "SchedulingGated"}}
		}, "0/1", "SchedulingGated", "0"},
		{"creating", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("ContainerCreating")}}
		}, "0/1", "ContainerCreating", "0"},
		{"running ready", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running}}
		}, "1/1", "Running", "0"},
		{"running not ready", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: running}}
		}, "0/1", "Running", "0"},
		{"crash loop", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 5, State: waiting("CrashLoopBackOff")}}
		}, "0/1", "CrashLoopBackOff", "5"},
		{"image pull", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("ImagePullBackOff")}}
		}, "0/1", "ImagePullBackOff", "0"},
		{"completed", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(0, 0, "Completed")}}
		}, "0/1", "Completed", "0"},
		{"error", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(1, 0, "Error")}}
		}, "0/1", "Error", "0"},
		{"exit code without reason", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(3, 0, "")}}
		}, "0/1", "ExitCode:3", "0"},
		{"signal without reason", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(137, 9, "")}}
		}, "0/1", "Signal:9", "0"},
		{"one completed one running, ready", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side"})
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running},
				{Name: "side", State: terminated(0, 0, "Completed")},
			}
		}, "1/2", "Running", "0"},
		{"one completed one running, not ready", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side"})
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running},
				{Name: "side", State: terminated(0, 0, "Completed")},
			}
		}, "1/2", "NotReady", "0"},
		{"init running", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a"}, {Name: "b"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: terminated(0, 0, "Completed")},
				{Name: "b", State: running},
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}
		}, "0/1", "Init:1/2", "0"},
		{"init crash loop", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", RestartCount: 3, State: waiting("CrashLoopBackOff")}}
		}, "0/1", "Init:CrashLoopBackOff", "3"},
		{"init failed", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: terminated(2, 0, "")}}
		}, "0/1", "Init:ExitCode:2", "0"},
		{"init failed with reason", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: terminated(1, 0, "Error")}}
		}, "0/1", "Init:Error", "0"},
		{"pod initializing", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: terminated(0, 0, "Completed")}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}
		}, "0/1", "PodInitializing", "0"},
		{"sidecar counts as container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &sidecar}}
			p.Status.Phase = corev1.PodRunning
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptr(true), RestartCount: 1, State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running, RestartCount: 2}}
		}, "2/2", "Running", "3"},
		{"terminating", func(p *corev1.Pod) {
			p.DeletionTimestamp = &now
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running}}
		}, "1/1", "Terminating", "0"},
		{"terminated pod being deleted keeps reason", func(p *corev1.Pod) {
			p.DeletionTimestamp = &now
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(0, 0, "Completed")}}
		}, "0/1", "Completed", "0"},
		{"node lost", func(p *corev1.Pod) {
			p.DeletionTimestamp = &now
			p.Status.Phase = corev1.PodRunning
			p.Status.Reason = "NodeLost"
		}, "0/1", "Unknown", "0"},
		{"evicted", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "Evicted"
		}, "0/1", "Evicted", "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			tc.mutate(pod)
			c := cells(pod)
			if c[0] != "web" || c[1] != tc.ready || c[2] != tc.status || c[3] != tc.restarts {
				t.Errorf("cells = %q %q %q %q; want web %q %q %q", c[0], c[1], c[2], c[3], tc.ready, tc.status, tc.restarts)
			}
			if c[4] != "<unknown>" {
				t.Errorf("age of a pod without creationTimestamp = %q", c[4])
			}
		})
	}
}

func TestWideCells(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	c := cells(pod)
	if c[5] != "<none>" || c[6] != "<none>" || c[7] != "<none>" || c[8] != "<none>" {
		t.Errorf("empty wide cells = %q", c[5:])
	}
	pod.Spec.NodeName = "node-1"
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}
	pod.Status = corev1.PodStatus{
		PodIPs:            []corev1.PodIP{{IP: "10.42.0.9"}, {IP: "fd00::9"}},
		NominatedNodeName: "node-2",
		Conditions: []corev1.PodCondition{
			{Type: "a", Status: corev1.ConditionTrue},
			{Type: "b", Status: corev1.ConditionFalse},
		},
	}
	c = cells(pod)
	want := []interface{}{"10.42.0.9", "node-1", "node-2", "1/2"}
	for i, w := range want {
		if c[5+i] != w {
			t.Errorf("wide cell %d = %q, want %q", 5+i, c[5+i], w)
		}
	}
}
