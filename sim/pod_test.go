package sim

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// newTestSim returns a simulator on a fake clientset holding objs, with
// its nodes registered and its pod cache filled with the pods of objs, but
// not running.
func newTestSim(t *testing.T, cfg Config, objs ...runtime.Object) (*Sim, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	cfg.Client = client
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.order {
		n.registered = true
	}
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			if err := s.podIndexer.Add(pod); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s, client
}

func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		out = append(out, s)
	}
	return out
}

func TestAdvance(t *testing.T) {
	s, _ := newTestSim(t, Config{Nodes: 1, PodStartDelay: 2 * time.Second, JobPodDuration: 10 * time.Second})
	n := s.order[0]
	for _, tc := range []struct {
		name        string
		policy      corev1.RestartPolicy
		annotations map[string]string
		st          podState
		now         time.Duration // after t0
		wait        time.Duration
		check       func(*podState) string
	}{
		{"still pending", corev1.RestartPolicyAlways, nil, podState{seen: t0}, time.Second, time.Second,
			func(st *podState) string {
				if !st.initDone.IsZero() || st.ip.IsValid() {
					return "started early"
				}
				return ""
			}},
		{"starts after the delay", corev1.RestartPolicyAlways, nil, podState{seen: t0}, 2 * time.Second, 0,
			func(st *podState) string {
				if !st.initDone.Equal(t0.Add(2*time.Second)) || !n.podCIDR.Contains(st.ip) {
					return "not started with an IP of the node"
				}
				return ""
			}},
		{"job runs", corev1.RestartPolicyNever, nil, podState{seen: t0, initDone: t0, started: t0}, 4 * time.Second, 6 * time.Second,
			func(st *podState) string {
				if !st.finished.IsZero() {
					return "finished early"
				}
				return ""
			}},
		{"job ends", corev1.RestartPolicyNever, nil, podState{seen: t0, initDone: t0, started: t0}, 11 * time.Second, 0,
			func(st *podState) string {
				if !st.finished.Equal(t0.Add(10*time.Second)) || st.exitCode != 0 {
					return "did not finish at its end time with 0"
				}
				return ""
			}},
		{"job fails", corev1.RestartPolicyNever, map[string]string{AnnotationExitCode: "42"}, podState{seen: t0, initDone: t0, started: t0}, 11 * time.Second, 0,
			func(st *podState) string {
				if st.finished.IsZero() || st.exitCode != 42 {
					return "did not fail with 42"
				}
				return ""
			}},
		{"on failure restarts", corev1.RestartPolicyOnFailure, map[string]string{AnnotationExitCode: "1"}, podState{seen: t0, initDone: t0, started: t0}, 11 * time.Second, 10 * time.Second,
			func(st *podState) string {
				if !st.finished.IsZero() || st.restarts != 1 || st.last == nil || st.last.code != 1 || !st.started.Equal(t0.Add(11*time.Second)) {
					return "not restarted"
				}
				return ""
			}},
		{"own duration", corev1.RestartPolicyNever, map[string]string{AnnotationDuration: "1m"}, podState{seen: t0, initDone: t0, started: t0}, 11 * time.Second, 49 * time.Second,
			func(st *podState) string { return "" }},
		{"always runs on", corev1.RestartPolicyAlways, map[string]string{AnnotationExitCode: "1"}, podState{seen: t0, initDone: t0, started: t0}, time.Hour, 0,
			func(st *podState) string {
				if !st.finished.IsZero() {
					return "finished"
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := simplePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = tc.policy; p.Annotations = tc.annotations })
			st := tc.st
			st.uid = pod.UID
			wait, err := s.advance(pod, &st, n, t0.Add(tc.now))
			if err != nil {
				t.Fatal(err)
			}
			if wait != tc.wait {
				t.Errorf("wait %s, want %s", wait, tc.wait)
			}
			if msg := tc.check(&st); msg != "" {
				t.Errorf("%s: %+v", msg, st)
			}
			n.pool.release(pod.UID)
		})
	}
}

func TestSyncPod(t *testing.T) {
	ctx := context.Background()
	running := simplePod()
	running.Spec.NodeName = "sim-0"
	other := simplePod(func(p *corev1.Pod) { p.Name, p.UID, p.Spec.NodeName = "elsewhere", "uid-2", "real-node" })
	s, client := newTestSim(t, Config{Nodes: 1}, running, other)

	// A pod bound to a simulated node runs: one status write.
	if err := s.syncPod(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(writes(client), ","); got != "update pods/status" {
		t.Fatalf("writes %s", got)
	}
	p, err := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != corev1.PodRunning || !strings.HasPrefix(p.Status.PodIP, "10.42.0.") || p.Status.HostIP != "172.20.0.1" {
		t.Errorf("status %s %s %s", p.Status.Phase, p.Status.PodIP, p.Status.HostIP)
	}
	// Synced again with what it wrote: nothing to write.
	if err := s.podIndexer.Update(p); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := s.syncPod(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	// Another node's pod is none of its business.
	if err := s.syncPod(ctx, "ns/elsewhere"); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) != 0 {
		t.Errorf("writes %v", w)
	}

	// A stopped node leaves its pods alone, even deleted ones.
	p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	p.DeletionGracePeriodSeconds = new(int64)
	if err := s.podIndexer.Update(p); err != nil {
		t.Fatal(err)
	}
	if err := s.StopHeartbeat("sim-0"); err != nil {
		t.Fatal(err)
	}
	if err := s.syncPod(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) != 0 {
		t.Errorf("stopped node wrote %v", w)
	}

	// Back alive, it reports the killed containers, then deletes the pod
	// at once, for that UID only.
	if err := s.ResumeHeartbeat("sim-0"); err != nil {
		t.Fatal(err)
	}
	if err := s.syncPod(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(writes(client), ","); got != "update pods/status,delete pods" {
		t.Fatalf("writes %s", got)
	}
	var final *corev1.Pod
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.UpdateAction:
			final = a.GetObject().(*corev1.Pod)
		case k8stesting.DeleteAction:
			o := a.GetDeleteOptions()
			if o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || o.Preconditions.UID == nil || *o.Preconditions.UID != "uid-1" {
				t.Errorf("delete options %+v", o)
			}
		}
	}
	if final.Status.Phase != corev1.PodFailed || final.Status.ContainerStatuses[0].State.Terminated == nil ||
		final.Status.ContainerStatuses[0].State.Terminated.ExitCode != 137 {
		t.Errorf("final status %s", summary(final.Status))
	}
	// Its IP is free again.
	if n := s.order[0].pool.inUse(); n != 0 {
		t.Errorf("%d pod IPs in use", n)
	}
}

func TestSyncPodIPExhaustion(t *testing.T) {
	ctx := context.Background()
	var objs []runtime.Object
	for i := range 3 {
		objs = append(objs, simplePod(func(p *corev1.Pod) {
			p.Name, p.UID = "p"+string(rune('a'+i)), types.UID("uid-"+string(rune('a'+i)))
		}))
	}
	s, _ := newTestSim(t, Config{Nodes: 1, PodCIDR: "10.9.0.0/24", NodeCIDRMaskSize: 30}, objs...)
	if err := s.syncPod(ctx, "ns/pa"); err != nil {
		t.Fatal(err)
	}
	err := s.syncPod(ctx, "ns/pb")
	if err == nil || !strings.Contains(err.Error(), "no free pod IP") {
		t.Errorf("second pod on a /30: err %v", err)
	}
}
