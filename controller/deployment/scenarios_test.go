package deployment_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"berth/controller/deployment"
)

// readyUnless is a kubelet policy: pods of image bad never become ready.
func readyUnless(bad string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != bad }
}

// rsSizes maps each ReplicaSet's image to its spec.replicas.
func (n *ns) rsSizes() map[string]int32 {
	out := map[string]int32{}
	for _, rs := range n.replicaSets() {
		out[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
	}
	return out
}

// testScale: kubectl scale 3 → 10 → 0.
func testScale(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{})
	n.create(newDeployment("web", 3, "nginx:1"))
	n.waitComplete("web")
	for _, want := range []int{10, 0} {
		n.mustKubectl("scale", "deployment/web", fmt.Sprintf("--replicas=%d", want))
		d := n.waitComplete("web")
		if got := len(n.pods("app=web")); got != want {
			t.Errorf("scaled to %d: %d pods", want, got)
		}
		rss := n.replicaSets()
		if len(rss) != 1 || *rss[0].Spec.Replicas != int32(want) ||
			rss[0].Annotations[deployment.DesiredReplicasAnnotation] != fmt.Sprint(want) {
			t.Errorf("scaled to %d: replica sets %v", want, rss)
		}
		if d.Status.Replicas != int32(want) || d.Status.AvailableReplicas != int32(want) || d.Status.UnavailableReplicas != 0 {
			t.Errorf("scaled to %d: status %+v", want, d.Status)
		}
	}
}

// testProportionalScaling is Kubernetes' documented example: 10 replicas,
// maxSurge 3, maxUnavailable 2, a new image that never gets ready (old 8,
// new 5), then a scale to 15 shares the 5 new replicas 3 to the old
// ReplicaSet and 2 to the new one.
func testProportionalScaling(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{ready: readyUnless("broken:1")})
	n.create(rolling(newDeployment("web", 10, "nginx:1"), "3", "2"))
	n.waitComplete("web")
	n.update("web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "broken:1" })
	n.eventually("a stuck rollout at old 8, new 5", func() (bool, string) {
		s := n.rsSizes()
		return s["nginx:1"] == 8 && s["broken:1"] == 5, fmt.Sprint(s)
	})
	n.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](15) })
	n.eventually("proportional scaling to old 11, new 7", func() (bool, string) {
		s := n.rsSizes()
		return s["nginx:1"] == 11 && s["broken:1"] == 7, fmt.Sprint(s)
	})
	// Scaling down removes proportionally too: to 5, max 8.
	n.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	n.eventually("proportional scaling down", func() (bool, string) {
		s := n.rsSizes()
		return s["nginx:1"]+s["broken:1"] <= 8 && s["nginx:1"] >= 3, fmt.Sprint(s)
	})
	n.eventually("minimum availability", func() (bool, string) {
		c := condition(n.get("web"), appsv1.DeploymentAvailable)
		return c != nil && c.Status == corev1.ConditionTrue, fmt.Sprintf("%+v", c)
	})
}

// testRecreate: every old pod, terminating ones included, is gone before
// the first new pod exists.
func testRecreate(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{hold: 500 * time.Millisecond})
	d := newDeployment("web", 3, "nginx:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	// Pods bound to a node terminate gracefully: the fake kubelet holds
	// them a while.
	d.Spec.Template.Spec.NodeName = "node-1"
	n.create(d)
	n.waitComplete("web")

	overlap := ""
	obs := n.observe(func(pods []*corev1.Pod, _ []*appsv1.ReplicaSet) string {
		images := map[string]int{}
		for _, p := range pods {
			images[p.Spec.Containers[0].Image]++
		}
		if images["nginx:1"] > 0 && images["nginx:2"] > 0 {
			overlap = fmt.Sprint(images)
			return "old and new pods at once: " + overlap
		}
		return ""
	})
	n.update("web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:2" })
	n.waitComplete("web")
	if v, checks := obs.report(); len(v) > 0 || checks < 6 {
		t.Errorf("recreate (%d states): %v", checks, v)
	}
	for _, p := range n.pods("app=web") {
		if p.Spec.Containers[0].Image != "nginx:2" {
			t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	s := n.rsSizes()
	if s["nginx:1"] != 0 || s["nginx:2"] != 3 {
		t.Errorf("replica sets %v", s)
	}
}

// testPaused: a paused Deployment does not roll out a new template but
// scales; resumed, it rolls out. Pause, resume and restart with kubectl.
func testPaused(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{})
	n.create(newDeployment("web", 3, "nginx:1"))
	n.waitComplete("web")
	n.mustKubectl("rollout", "pause", "deployment/web")
	n.mustKubectl("set", "image", "deployment/web", "web=nginx:2")
	n.eventually("paused condition", func() (bool, string) {
		d := n.get("web")
		c := condition(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration >= d.Generation && c != nil && c.Status == corev1.ConditionUnknown &&
			c.Reason == "DeploymentPaused" && c.Message == "Deployment is paused", fmt.Sprintf("%+v", c)
	})
	n.mustKubectl("scale", "deployment/web", "--replicas=5")
	n.eventually("scaled while paused", func() (bool, string) {
		d := n.get("web")
		return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == 5, fmt.Sprintf("%+v", d.Status)
	})
	if rss := n.replicaSets(); len(rss) != 1 || rss[0].Spec.Template.Spec.Containers[0].Image != "nginx:1" {
		t.Fatalf("paused deployment rolled out: %d replica sets", len(rss))
	}

	n.mustKubectl("rollout", "resume", "deployment/web")
	d := n.waitComplete("web")
	if d.Status.UpdatedReplicas != 5 || d.Spec.Template.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("after resume: %+v", d.Status)
	}
	if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("progressing after resume %+v", c)
	}

	// restart: a new ReplicaSet with the restartedAt template annotation.
	n.mustKubectl("rollout", "restart", "deployment/web")
	d = n.waitComplete("web")
	if _, ok := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
		t.Fatalf("restart did not annotate the template")
	}
	if got := d.Annotations[deployment.RevisionAnnotation]; got != "3" {
		t.Errorf("revision after restart %q, want 3", got)
	}
	for _, p := range n.pods("app=web") {
		if _, ok := p.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
			t.Errorf("pod %s is not from the restart", p.Name)
		}
	}

	// kubectl refuses to undo a paused deployment.
	n.mustKubectl("rollout", "pause", "deployment/web")
	if out, err := n.kubectl("rollout", "undo", "deployment/web"); err == nil || !strings.Contains(out, "you cannot rollback a paused deployment") {
		t.Errorf("undo of a paused deployment: %v %s", err, out)
	}
	n.mustKubectl("rollout", "resume", "deployment/web")
	n.eventually("resumed condition", func() (bool, string) {
		c := condition(n.get("web"), appsv1.DeploymentProgressing)
		return c != nil && c.Reason != "DeploymentPaused", fmt.Sprintf("%+v", c)
	})
}

// testProgressDeadline: pods that never become ready make the rollout
// exceed its deadline; kubectl rollout status reports it.
func testProgressDeadline(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{ready: readyUnless("broken:1")})
	d := newDeployment("web", 2, "broken:1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](2)
	n.create(d)
	var rsName string
	n.eventually("progress deadline exceeded", func() (bool, string) {
		d := n.get("web")
		c := condition(d, appsv1.DeploymentProgressing)
		if rss := n.replicaSets(); len(rss) == 1 {
			rsName = rss[0].Name
		}
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" &&
			c.Message == fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName), fmt.Sprintf("%+v", c)
	})
	d = n.get("web")
	if c := condition(d, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse ||
		c.Reason != "MinimumReplicasUnavailable" || c.Message != "Deployment does not have minimum availability." {
		t.Errorf("available condition %+v", c)
	}
	if d.Status.UnavailableReplicas != 2 || d.Status.AvailableReplicas != 0 {
		t.Errorf("status %+v", d.Status)
	}
	out, err := n.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
	if err == nil || !strings.Contains(out, `deployment "web" exceeded its progress deadline`) {
		t.Errorf("rollout status: %v\n%s", err, out)
	}
}

// testRevisionHistoryLimit: with a limit of 1, only the newest old
// ReplicaSet stays.
func testRevisionHistoryLimit(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{})
	d := newDeployment("web", 2, "nginx:1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	n.create(d)
	n.waitComplete("web")
	for _, img := range []string{"nginx:2", "nginx:3", "nginx:4"} {
		n.update("web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
		n.waitComplete("web")
	}
	n.eventually("history trimmed", func() (bool, string) {
		var revs []string
		for _, rs := range n.replicaSets() {
			revs = append(revs, rs.Annotations[deployment.RevisionAnnotation]+"="+rs.Spec.Template.Spec.Containers[0].Image)
		}
		sort.Strings(revs)
		return strings.Join(revs, ",") == "3=nginx:3,4=nginx:4", strings.Join(revs, ",")
	})
}
