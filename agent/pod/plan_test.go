package pod

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"berth/agent/probe"
)

func names(cs []*corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestComputePlan(t *testing.T) {
	sb := readySandbox("sb")
	dead := &sandbox{id: "old", attempt: 2}
	withInit := func(policy corev1.RestartPolicy, inits ...corev1.Container) *corev1.Pod {
		p := specPod(policy, "c")
		p.Spec.InitContainers = inits
		return p
	}
	sidecar := corev1.Container{Name: "side", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		rt          *podRuntime
		probeFailed map[string]probe.Result
		notStarted  bool
		old         *corev1.PodStatus
		want        plan
		start       []string
		kills       []string
	}{
		{name: "new pod", pod: specPod(corev1.RestartPolicyAlways, "c"), rt: &podRuntime{},
			want: plan{createSandbox: true}},
		{name: "sandbox died", pod: specPod(corev1.RestartPolicyAlways, "c"), rt: &podRuntime{sandboxes: []*sandbox{dead}, containers: []*container{runningC("1", "c", 0, t0)}},
			want: plan{createSandbox: true, killPod: true, attempt: 3}},
		{name: "sandbox died, never restarts", pod: specPod(corev1.RestartPolicyNever, "c"), rt: &podRuntime{sandboxes: []*sandbox{dead}, containers: []*container{exitedC("1", "c", 0, 0, t0, t0)}},
			want: plan{killPod: true, attempt: 3, terminal: true}},
		{name: "sandbox died, all succeeded", pod: specPod(corev1.RestartPolicyOnFailure, "c"), rt: &podRuntime{sandboxes: []*sandbox{dead}, containers: []*container{exitedC("1", "c", 0, 0, t0, t0)}},
			want: plan{killPod: true, attempt: 3, terminal: true}},
		{name: "start containers", pod: specPod(corev1.RestartPolicyAlways, "a", "b"), rt: &podRuntime{sandboxes: []*sandbox{sb}},
			start: []string{"a", "b"}},
		{name: "first init container", pod: withInit(corev1.RestartPolicyAlways, corev1.Container{Name: "i1"}, corev1.Container{Name: "i2"}), rt: &podRuntime{sandboxes: []*sandbox{sb}},
			start: []string{"i1"}},
		{name: "wait for init", pod: withInit(corev1.RestartPolicyAlways, corev1.Container{Name: "i1"}, corev1.Container{Name: "i2"}),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "i1", 0, t0)}}},
		{name: "next init", pod: withInit(corev1.RestartPolicyAlways, corev1.Container{Name: "i1"}, corev1.Container{Name: "i2"}),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("1", "i1", 0, 0, t0, t0)}}, start: []string{"i2"}},
		{name: "init failed, retry", pod: withInit(corev1.RestartPolicyOnFailure, corev1.Container{Name: "i1"}),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("1", "i1", 0, 1, t0, t0)}}, start: []string{"i1"}},
		{name: "init failed for good", pod: withInit(corev1.RestartPolicyNever, corev1.Container{Name: "i1"}),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("1", "i1", 0, 1, t0, t0)}}, want: plan{killPod: true, terminal: true}},
		{name: "sidecar first", pod: withInit(corev1.RestartPolicyAlways, sidecar), rt: &podRuntime{sandboxes: []*sandbox{sb}}, start: []string{"side"}},
		{name: "sidecar not started yet", pod: withInit(corev1.RestartPolicyAlways, sidecar), notStarted: true,
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "side", 0, t0)}}},
		{name: "sidecar started", pod: withInit(corev1.RestartPolicyAlways, sidecar),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "side", 0, t0)}}, start: []string{"c"}},
		{name: "sidecar restarted alongside", pod: withInit(corev1.RestartPolicyNever, sidecar),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("2", "c", 0, t0), exitedC("1", "side", 0, 1, t0, t0)}}, start: []string{"side"}},
		{name: "crashed container restarts", pod: specPod(corev1.RestartPolicyAlways, "c"),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("1", "c", 0, 0, t0, t0)}}, start: []string{"c"}},
		{name: "all done", pod: specPod(corev1.RestartPolicyOnFailure, "a", "b"),
			rt:   &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("1", "a", 0, 0, t0, t0), exitedC("2", "b", 0, 0, t0, t0)}},
			want: plan{killPod: true, terminal: true}},
		{name: "done with a sidecar running", pod: withInit(corev1.RestartPolicyNever, sidecar),
			rt:   &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{exitedC("2", "c", 0, 0, t0, t0), runningC("1", "side", 0, t0)}},
			want: plan{killPod: true, terminal: true}},
		{name: "liveness failure", pod: specPod(corev1.RestartPolicyAlways, "c"), probeFailed: map[string]probe.Result{"c": {Kind: probe.Liveness}},
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "c", 0, t0)}}, kills: []string{"Container c failed liveness probe, will be restarted"}},
		{name: "liveness failure of a gone instance", pod: specPod(corev1.RestartPolicyAlways, "c"), probeFailed: map[string]probe.Result{"c": {Kind: probe.Liveness, ContainerID: "old"}},
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "c", 0, t0)}}},
		{name: "startup failure, never restarts", pod: specPod(corev1.RestartPolicyNever, "c"), probeFailed: map[string]probe.Result{"c": {Kind: probe.Startup}},
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "c", 0, t0)}}, kills: []string{"Container c failed startup probe"}},
		{name: "image changed", pod: func() *corev1.Pod {
			p := specPod(corev1.RestartPolicyAlways, "c")
			p.Spec.Containers[0].Image = "busybox:2"
			return p
		}(),
			rt: &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("1", "c", 0, t0)}}, kills: []string{"Container c definition changed, will be restarted"}},
		{name: "terminated for good before the runtime lost it", pod: specPod(corev1.RestartPolicyNever, "a", "b"),
			old: &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}}},
			rt:  &podRuntime{sandboxes: []*sandbox{sb}, containers: []*container{runningC("2", "b", 0, t0)}}},
	}
	for _, tt := range tests {
		p := computePlan(&planInput{pod: tt.pod, rt: tt.rt, probeFailed: tt.probeFailed, old: tt.old,
			started: func(string) bool { return !tt.notStarted }})
		if got := names(p.start); len(got) != len(tt.start) || (len(got) > 0 && !equalStrings(got, tt.start)) {
			t.Errorf("%s: start %v, want %v", tt.name, got, tt.start)
		}
		var kills []string
		for _, k := range p.kill {
			kills = append(kills, k.message)
		}
		if !equalStrings(kills, tt.kills) {
			t.Errorf("%s: kills %q, want %q", tt.name, kills, tt.kills)
		}
		if p.killPod != tt.want.killPod || p.createSandbox != tt.want.createSandbox || p.attempt != tt.want.attempt || p.terminal != tt.want.terminal {
			t.Errorf("%s: plan %+v, want %+v", tt.name, p, tt.want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackOffSequence(t *testing.T) {
	b := newBackOff(10*time.Second, 5*time.Minute)
	now, exit := t0, t0
	var delays []time.Duration
	for i := 0; i < 8; i++ {
		if in, _ := b.inBackOffSince("k", exit, now); in {
			t.Fatalf("restart %d: still in back-off", i)
		}
		b.next("k", exit, now)
		delays = append(delays, b.get("k"))
		exit = now.Add(time.Second) // runs a second, exits
		in, until := b.inBackOffSince("k", exit, exit.Add(time.Second))
		if !in || until != exit.Add(b.get("k")) {
			t.Fatalf("restart %d: not in back-off after the exit", i)
		}
		now = until
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i := range want {
		if delays[i] != want[i]*time.Second {
			t.Errorf("delays %v", delays)
			break
		}
	}
	// Running ten minutes resets the back-off.
	b.next("k", now.Add(11*time.Minute), now.Add(11*time.Minute))
	if b.get("k") != 10*time.Second {
		t.Errorf("after a long run: %v", b.get("k"))
	}
	b.forget("k")
	if b.get("k") != 0 {
		t.Error("forget kept the key")
	}
	// Image pulls: back-off since the last failed pull.
	b.next("img", now, now)
	if in, _ := b.inBackOffSinceUpdate("img", now.Add(9*time.Second)); !in {
		t.Error("not in back-off 9s after a failed pull")
	}
	if in, _ := b.inBackOffSinceUpdate("img", now.Add(10*time.Second)); in {
		t.Error("in back-off 10s after a failed pull")
	}
}
