package deployment_test

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/controller/deployment"
)

// TestDeployments runs the Deployment and ReplicaSet controllers against
// a real control plane; the subtests share it, each in a namespace.
func TestDeployments(t *testing.T) {
	e := startEnv(t)
	t.Run("create", func(t *testing.T) { t.Parallel(); testCreate(t, e) })
	t.Run("rolling-update", func(t *testing.T) { t.Parallel(); testRollingUpdate(t, e) })
	t.Run("scale", func(t *testing.T) { t.Parallel(); testScale(t, e) })
	t.Run("proportional-scaling", func(t *testing.T) { t.Parallel(); testProportionalScaling(t, e) })
	t.Run("recreate", func(t *testing.T) { t.Parallel(); testRecreate(t, e) })
	t.Run("paused", func(t *testing.T) { t.Parallel(); testPaused(t, e) })
	t.Run("progress-deadline", func(t *testing.T) { t.Parallel(); testProgressDeadline(t, e) })
	t.Run("revision-history-limit", func(t *testing.T) { t.Parallel(); testRevisionHistoryLimit(t, e) })
}

// testCreate: a Deployment of 3 gets one ReplicaSet named after its
// template hash and 3 pods; a deleted pod is replaced.
func testCreate(t *testing.T, e *env) {
	n := e.namespace(t)
	n.runKubelet(kubelet{})
	d := n.create(newDeployment("web", 3, "nginx:1"))
	n.waitComplete("web")

	rss := n.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("replica sets: got %d, want 1", len(rss))
	}
	rs := rss[0]
	stored := n.get("web")
	hash := deployment.ComputeHash(&stored.Spec.Template, nil)
	if rs.Name != "web-"+hash {
		t.Errorf("replica set name %q, want %q", rs.Name, "web-"+hash)
	}
	if got := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; got != hash {
		t.Errorf("pod-template-hash label %q, want %q", got, hash)
	}
	if got := rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey]; got != hash {
		t.Errorf("selector pod-template-hash %q, want %q", got, hash)
	}
	ref := metav1.GetControllerOf(&rs)
	if ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("replica set controller ref %+v", ref)
	}
	for k, want := range map[string]string{
		deployment.RevisionAnnotation:        "1",
		deployment.DesiredReplicasAnnotation: "3",
		deployment.MaxReplicasAnnotation:     "4", // 3 + 25% rounded up
	} {
		if got := rs.Annotations[k]; got != want {
			t.Errorf("annotation %s: got %q, want %q", k, got, want)
		}
	}
	if got := stored.Annotations[deployment.RevisionAnnotation]; got != "1" {
		t.Errorf("deployment revision %q, want 1", got)
	}
	pods := n.pods("app=web")
	if len(pods) != 3 {
		t.Fatalf("pods: got %d, want 3", len(pods))
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, rs.Name+"-") || p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != rs.UID {
			t.Errorf("pod %s controller %+v", p.Name, ref)
		}
	}
	// Conditions as Kubernetes reports a finished rollout.
	n.eventually("progressing condition", func() (bool, string) {
		d := n.get("web")
		c := condition(d, appsv1.DeploymentProgressing)
		want := fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name)
		return c != nil && c.Status == corev1.ConditionTrue && c.Reason == "NewReplicaSetAvailable" && c.Message == want,
			fmt.Sprintf("%+v", c)
	})
	if c := condition(n.get("web"), appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue ||
		c.Reason != "MinimumReplicasAvailable" || c.Message != "Deployment has minimum availability." {
		t.Errorf("available condition %+v", c)
	}
	n.eventually("scaling event", func() (bool, string) {
		for _, ev := range n.events("ScalingReplicaSet") {
			if ev.Message == fmt.Sprintf("Scaled up replica set %s from 0 to 3", rs.Name) &&
				ev.Source.Component == "deployment-controller" && ev.InvolvedObject.Kind == "Deployment" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v", n.events("ScalingReplicaSet"))
	})

	// A deleted pod comes back.
	victim := pods[0].Name
	if err := n.client.CoreV1().Pods(n.name).Delete(n.ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.eventually("a replacement pod", func() (bool, string) {
		pods := n.pods("app=web")
		for _, p := range pods {
			if p.Name == victim {
				return false, "victim still there"
			}
		}
		return len(pods) == 3, fmt.Sprintf("%d pods", len(pods))
	})
	n.waitComplete("web")
}
