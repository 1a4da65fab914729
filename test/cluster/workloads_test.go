package cluster

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: podSpec(image)},
		},
	}
}

// A Deployment runs, heals, rolls out within its surge and unavailability
// bounds, rolls back, scales, and takes its ReplicaSets and pods with it
// when deleted.
func TestDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	ctx := context.Background()
	d := deployment("web", 3, "berth/demo:v1")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
		MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0)),
	}
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := selector(map[string]string{"app": "web"})
	pods := c.waitRunning(sel, 3)

	// Self-healing: a deleted pod is replaced.
	victim := pods[0].Name
	if err := c.client.CoreV1().Pods(c.ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("replacement pod", 30*time.Second, func() (bool, error) {
		now := c.pods(sel)
		for _, p := range now {
			if p.Name == victim {
				return false, nil
			}
		}
		return runningReady(now) == 3, nil
	})

	// Rolling update, observed: never more than 4 live pods (3 + maxSurge 1)
	// nor fewer than 3 ready ones (maxUnavailable 0).
	w, err := c.client.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var maxLive, minReady = 0, 100
	seen := map[string]corev1.Pod{}
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(seen, p.Name)
			} else {
				seen[p.Name] = *p
			}
			live, ready := 0, 0
			for _, q := range seen {
				if q.DeletionTimestamp == nil {
					live++
					if podReady(&q) {
						ready++
					}
				}
			}
			maxLive = max(maxLive, live)
			if len(seen) >= 3 {
				minReady = min(minReady, ready)
			}
			mu.Unlock()
		}
	}()
	c.kubectl("set", "image", "deployment/web", "web=berth/demo:v2")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	w.Stop()
	<-observed
	if maxLive > 4 || minReady < 3 {
		t.Errorf("rollout broke its bounds: up to %d live pods (max 4), down to %d ready (min 3)", maxLive, minReady)
	}
	for _, p := range c.waitRunning(sel, 3) {
		if img := p.Spec.Containers[0].Image; img != "berth/demo:v2" {
			t.Errorf("pod %s runs %s after the rollout", p.Name, img)
		}
	}
	if out := c.kubectl("rollout", "history", "deployment/web"); !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Errorf("rollout history:\n%s", out)
	}

	// Undo restores the first template.
	c.kubectl("rollout", "undo", "deployment/web")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	c.eventually("pods back on v1", 30*time.Second, func() (bool, error) {
		pods := c.pods(sel)
		v1 := 0
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == "berth/demo:v1" && podReady(&p) {
				v1++
			}
		}
		return v1 == 3 && runningReady(pods) == 3, nil
	})

	// Scale 3 → 10 → 0.
	c.kubectl("scale", "deployment/web", "--replicas=10")
	c.waitRunning(sel, 10)
	c.kubectl("scale", "deployment/web", "--replicas=0")
	c.waitRunning(sel, 0)

	// Cascading delete: the ReplicaSets go with the Deployment.
	c.kubectl("scale", "deployment/web", "--replicas=2")
	c.waitRunning(sel, 2)
	if err := c.client.AppsV1().Deployments(c.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("replica sets and pods gone", 60*time.Second, func() (bool, error) {
		rs, err := c.client.AppsV1().ReplicaSets(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		return len(rs.Items) == 0 && len(c.pods(sel)) == 0, nil
	})
}

// Foreground deletion removes the dependents first, the owner last.
func TestForegroundDeletion(t *testing.T) {
	t.Parallel()
	c := start(t, 2)
	ctx := context.Background()
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("fg", 2, "berth/demo:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := selector(map[string]string{"app": "fg"})
	c.waitRunning(sel, 2)
	if err := c.client.AppsV1().Deployments(c.ns).Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	d, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "fg", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the deployment went before its dependents: %v", err)
	}
	if d.DeletionTimestamp == nil || !strings.Contains(strings.Join(d.Finalizers, ","), metav1.FinalizerDeleteDependents) {
		t.Fatalf("deployment not held by foregroundDeletion: %v %v", d.DeletionTimestamp, d.Finalizers)
	}
	c.eventually("deployment gone, after its replica sets and pods", 60*time.Second, func() (bool, error) {
		_, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "fg", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		rs, err := c.client.AppsV1().ReplicaSets(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		if len(rs.Items) > 0 {
			t.Fatalf("deployment deleted while %d replica sets remain", len(rs.Items))
		}
		return true, nil
	})
}

// Deleting a namespace deletes what is in it, then the namespace.
func TestNamespaceDeletion(t *testing.T) {
	t.Parallel()
	c := start(t, 2)
	ctx := context.Background()
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("gone", 2, "berth/demo:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitRunning(selector(map[string]string{"app": "gone"}), 2)
	if err := c.client.CoreV1().Namespaces().Delete(ctx, c.ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, c.ns, metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("namespace not Terminating: %v %v", err, ns.Status.Phase)
	}
	c.eventually("namespace gone", 60*time.Second, func() (bool, error) {
		_, err := c.client.CoreV1().Namespaces().Get(ctx, c.ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	pods, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("pods left after the namespace: %v %d", err, len(pods.Items))
	}
}

// A Job runs its pods to completion.
func TestJobCompletes(t *testing.T) {
	t.Parallel()
	c := start(t, 2)
	ctx := context.Background()
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi"},
		Spec: batchv1.JobSpec{
			Completions: ptr.To[int32](3), Parallelism: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "pi", Image: "busybox"}},
			}},
		},
	}
	if _, err := c.client.BatchV1().Jobs(c.ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("job complete", 60*time.Second, func() (bool, error) {
		got, err := c.client.BatchV1().Jobs(c.ns).Get(ctx, "pi", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return got.Status.Succeeded == 3, nil
			}
		}
		return false, nil
	})
}

// A CronJob creates a Job at the next minute.
func TestCronJobFires(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the next minute")
	}
	t.Parallel()
	c := start(t, 1)
	ctx := context.Background()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule: "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "tick", Image: "busybox"}},
			}}}},
		},
	}
	if _, err := c.client.BatchV1().CronJobs(c.ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("a job from the cron job, completed", 90*time.Second, func() (bool, error) {
		jobs, err := c.client.BatchV1().Jobs(c.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) == 0 {
			return false, err
		}
		j := jobs.Items[0]
		if !strings.HasPrefix(j.Name, "tick-") || len(j.OwnerReferences) == 0 || j.OwnerReferences[0].Name != "tick" {
			t.Fatalf("unexpected job %s owned by %v", j.Name, j.OwnerReferences)
		}
		return j.Status.Succeeded == 1, nil
	})
}

// A DaemonSet runs a pod on every node, including one added later.
func TestDaemonSetCoversNewNode(t *testing.T) {
	t.Parallel()
	c := start(t, 2)
	ctx := context.Background()
	l := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: podSpec("berth/demo:v1")},
		},
	}
	if _, err := c.client.AppsV1().DaemonSets(c.ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := selector(l)
	c.waitRunning(sel, 2)
	if _, err := c.sim.AddNodes(1); err != nil {
		t.Fatal(err)
	}
	pods := c.waitRunning(sel, 3)
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("daemon pods on %d distinct nodes, want 3: %v", len(nodes), nodes)
	}
}
