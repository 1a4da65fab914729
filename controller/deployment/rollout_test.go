package deployment_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"berth/controller/deployment"
)

// testRollingUpdate: kubectl set image rolls 5 replicas out with maxSurge
// 30% (2, rounded up) and maxUnavailable 30% (1, rounded down), new pods
// becoming ready one at a time; the bounds hold at every observed state
// of pods and ReplicaSets; kubectl rollout status waits for the end;
// history lists both revisions; undo restores the first template as
// revision 3.
func testRollingUpdate(t *testing.T, e *env) {
	n := e.namespace(t)
	// New pods stay unready until the gate opens, then get ready one at a
	// time.
	var gate atomic.Bool
	n.runKubelet(kubelet{perTick: 1, tick: 150 * time.Millisecond, ready: func(p *corev1.Pod) bool {
		return gate.Load() || p.Spec.Containers[0].Image != "nginx:2"
	}})
	n.create(rolling(newDeployment("web", 5, "nginx:1"), "30%", "30%"))
	n.waitComplete("web")
	const maxPods, minReady = 5 + 2, 5 - 1

	peakSpec, peakPods, lowReady := int32(0), 0, 5
	obs := n.observe(func(pods []*corev1.Pod, rss []*appsv1.ReplicaSet) string {
		active, ready := 0, 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			active++
			if podReady(p) {
				ready++
			}
		}
		var specSum, availSum int32
		for _, rs := range rss {
			specSum += *rs.Spec.Replicas
			availSum += rs.Status.AvailableReplicas
		}
		peakSpec, peakPods, lowReady = max(peakSpec, specSum), max(peakPods, active), min(lowReady, ready)
		switch {
		case active > maxPods:
			return fmt.Sprintf("%d pods, more than %d", active, maxPods)
		case ready < minReady:
			return fmt.Sprintf("%d ready pods, fewer than %d", ready, minReady)
		case specSum > maxPods:
			return fmt.Sprintf("replica sets want %d replicas, more than %d", specSum, maxPods)
		case availSum < minReady:
			return fmt.Sprintf("replica sets have %d available replicas, fewer than %d", availSum, minReady)
		}
		return ""
	})

	var statusOut string
	var statusErr error
	var wg sync.WaitGroup
	n.mustKubectl("set", "image", "deployment/web", "web=nginx:2")
	wg.Add(1)
	go func() {
		defer wg.Done()
		statusOut, statusErr = n.kubectl("rollout", "status", "deployment/web", "--timeout=40s")
	}()
	n.mustKubectl("annotate", "deployment/web", "kubernetes.io/change-cause=upgrade to nginx:2")
	// The first steps: the new ReplicaSet surges to 2, the old one loses
	// the one replica that may be unavailable, the new one takes its place
	// (3); then nothing moves until new pods are ready.
	n.eventually("the first steps of the rollout", func() (bool, string) {
		s := n.rsSizes()
		pods := n.pods("app=web")
		return s["nginx:1"] == 4 && s["nginx:2"] == 3 && len(pods) == 7, fmt.Sprintf("%v, %d pods", s, len(pods))
	})
	gate.Store(true)
	d := n.waitComplete("web")
	wg.Wait()
	if statusErr != nil || !strings.Contains(statusOut, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %v\n%s", statusErr, statusOut)
	}
	if !strings.Contains(statusOut, "Waiting for deployment \"web\" rollout to finish") {
		t.Errorf("rollout status did not wait:\n%s", statusOut)
	}
	violations, checks := obs.report()
	if len(violations) > 0 {
		t.Errorf("rollout bounds violated (%d states checked): %s", checks, strings.Join(violations, "; "))
	}
	if checks < 20 {
		t.Errorf("only %d states observed during the rollout", checks)
	}
	// The bounds were used: the surge rounded up, the unavailability down.
	obs.mu.Lock()
	if peakSpec != maxPods || peakPods != maxPods || lowReady != minReady {
		t.Errorf("rollout peaked at %d replicas and %d pods (want %d) and fell to %d ready pods (want %d)",
			peakSpec, peakPods, maxPods, lowReady, minReady)
	}
	obs.mu.Unlock()
	if got := d.Annotations[deployment.RevisionAnnotation]; got != "2" {
		t.Errorf("deployment revision %q, want 2", got)
	}
	for _, p := range n.pods("app=web") {
		if img := p.Spec.Containers[0].Image; img != "nginx:2" {
			t.Errorf("pod %s runs %s after the rollout", p.Name, img)
		}
	}
	// Both ReplicaSets remain, the old one scaled to 0.
	rss := n.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("%d replica sets, want 2", len(rss))
	}
	scaled := 0
	for _, ev := range n.events("ScalingReplicaSet") {
		if regexp.MustCompile(`^Scaled (up|down) replica set web-[a-z0-9]+ from \d+ to \d+$`).MatchString(ev.Message) {
			scaled++
		}
	}
	if scaled < 4 {
		t.Errorf("%d ScalingReplicaSet events, want several", scaled)
	}

	// History: two revisions, the second with its change cause.
	hist := n.mustKubectl("rollout", "history", "deployment/web")
	if !regexp.MustCompile(`(?m)^1\s+<none>\s*$`).MatchString(hist) ||
		!regexp.MustCompile(`(?m)^2\s+upgrade to nginx:2\s*$`).MatchString(hist) {
		t.Errorf("rollout history:\n%s", hist)
	}
	rev1 := n.mustKubectl("rollout", "history", "deployment/web", "--revision=1")
	if !strings.Contains(rev1, "nginx:1") {
		t.Errorf("rollout history --revision=1:\n%s", rev1)
	}

	// Undo: the first template comes back as revision 3, on the first
	// ReplicaSet, which remembers it was revision 1.
	n.mustKubectl("rollout", "undo", "deployment/web")
	d = n.waitComplete("web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" {
		t.Fatalf("after undo the template runs %s", img)
	}
	if got := d.Annotations[deployment.RevisionAnnotation]; got != "3" {
		t.Errorf("deployment revision after undo %q, want 3", got)
	}
	for _, p := range n.pods("app=web") {
		if img := p.Spec.Containers[0].Image; img != "nginx:1" {
			t.Errorf("pod %s runs %s after undo", p.Name, img)
		}
	}
	rss = n.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("%d replica sets after undo, want 2 (the first one reused)", len(rss))
	}
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Image != "nginx:1" {
			continue
		}
		if rs.Annotations[deployment.RevisionAnnotation] != "3" || rs.Annotations[deployment.RevisionHistoryAnnotation] != "1" {
			t.Errorf("reused replica set annotations %v", rs.Annotations)
		}
	}
	hist = n.mustKubectl("rollout", "history", "deployment/web")
	if regexp.MustCompile(`(?m)^1\s`).MatchString(hist) || !regexp.MustCompile(`(?m)^3\s`).MatchString(hist) {
		t.Errorf("rollout history after undo:\n%s", hist)
	}

	// Undo to a named revision.
	n.mustKubectl("rollout", "undo", "deployment/web", "--to-revision=2")
	d = n.waitComplete("web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:2" || d.Annotations[deployment.RevisionAnnotation] != "4" {
		t.Errorf("after undo --to-revision=2: image %s revision %s", img, d.Annotations[deployment.RevisionAnnotation])
	}
}
