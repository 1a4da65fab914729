package statefulset_test

import (
	"berth/controller/statefulset"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/internal/testserver"
)

type cluster struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, statefulset.New)
	c := &cluster{t: t, client: s.Client, ns: "sts"}
	for _, ns := range []string{c.ns, "test"} {
		if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// poll waits up to 20s for cond.
func (c *cluster) poll(what string, cond func() (bool, error)) {
	c.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (c *cluster) pod(name string) (*corev1.Pod, error) {
	p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return p, err
}

func (c *cluster) set(name string) *appsv1.StatefulSet {
	c.t.Helper()
	s, err := c.client.AppsV1().StatefulSets(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// waitPod waits for a pod named name that is not being deleted and whose
// revision label is not notRevision.
func (c *cluster) waitPod(name, notRevision string) *corev1.Pod {
	c.t.Helper()
	var pod *corev1.Pod
	c.poll("pod "+name, func() (bool, error) {
		p, err := c.pod(name)
		if err != nil || p == nil || p.DeletionTimestamp != nil || statefulset.Revision(p) == notRevision {
			return false, err
		}
		pod = p
		return true, nil
	})
	return pod
}

// markReady makes a pod Running and Ready, as a kubelet would.
func (c *cluster) markReady(name string) {
	c.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		_, err = c.client.CoreV1().Pods(c.ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		c.t.Fatalf("mark %s ready: %v", name, err)
	}
}

// waitStatus waits until the set's status satisfies cond.
func (c *cluster) waitStatus(name, what string, cond func(appsv1.StatefulSetStatus) bool) appsv1.StatefulSetStatus {
	c.t.Helper()
	var st appsv1.StatefulSetStatus
	c.poll(name+" status: "+what, func() (bool, error) {
		s, err := c.client.AppsV1().StatefulSets(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st = s.Status
		return s.Status.ObservedGeneration >= s.Generation && cond(s.Status), nil
	})
	return st
}

func (c *cluster) scale(name string, n int32) {
	c.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := c.client.AppsV1().StatefulSets(c.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func TestStatefulSetLifecycle(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	set := statefulset.TestSet("web", 3)
	set.ObjectMeta = metav1.ObjectMeta{Name: "web"}
	set.Spec.ServiceName = "web"
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{}
	set.Spec.RevisionHistoryLimit = nil
	if _, err := c.client.AppsV1().StatefulSets(c.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Ordered creation: web-N+1 appears only once web-N is Running and Ready.
	var firstRevision string
	for n := 0; n < 3; n++ {
		name := fmt.Sprintf("web-%d", n)
		pod := c.waitPod(name, "")
		// The controller has seen the pod (status counts it) and still
		// created nothing more.
		c.waitStatus("web", fmt.Sprintf("%d replicas", n+1), func(s appsv1.StatefulSetStatus) bool { return s.Replicas == int32(n+1) })
		if next, err := c.pod(fmt.Sprintf("web-%d", n+1)); err != nil || next != nil {
			t.Fatalf("web-%d exists before %s is ready (err %v)", n+1, name, err)
		}
		if pod.Spec.Hostname != name || pod.Spec.Subdomain != "web" ||
			pod.Labels[appsv1.StatefulSetPodNameLabel] != name || pod.Labels[appsv1.PodIndexLabel] != fmt.Sprint(n) ||
			pod.Labels["app"] != "web" || statefulset.Revision(pod) == "" || pod.Spec.NodeName != "" {
			t.Errorf("%s identity: hostname %q subdomain %q labels %v", name, pod.Spec.Hostname, pod.Spec.Subdomain, pod.Labels)
		}
		if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "StatefulSet" || ref.Name != "web" {
			t.Errorf("%s controller = %+v", name, ref)
		}
		if firstRevision == "" {
			firstRevision = statefulset.Revision(pod)
		} else if statefulset.Revision(pod) != firstRevision {
			t.Errorf("%s at revision %s, want %s", name, statefulset.Revision(pod), firstRevision)
		}
		c.markReady(name)
	}
	st := c.waitStatus("web", "3 ready", func(s appsv1.StatefulSetStatus) bool {
		return s.ReadyReplicas == 3 && s.AvailableReplicas == 3 && s.CurrentReplicas == 3 && s.UpdatedReplicas == 3
	})
	if st.CurrentRevision != firstRevision || st.UpdateRevision != firstRevision || st.CollisionCount == nil || *st.CollisionCount != 0 {
		t.Errorf("status = %+v, want revisions %s", st, firstRevision)
	}
	// The revision is named as Kubernetes would name it for the stored set.
	if want, err := statefulset.NewRevision(c.set("web"), 1, ptr.To[int32](0)); err != nil || want.Name != firstRevision {
		t.Errorf("revision %s, want %v (%v)", firstRevision, want.Name, err)
	}
	if rev, err := c.client.AppsV1().ControllerRevisions(c.ns).Get(ctx, firstRevision, metav1.GetOptions{}); err != nil || rev.Revision != 1 {
		t.Errorf("revision object: %v %v", rev, err)
	}
	c.checkEvent("Normal", "SuccessfulCreate", "create Pod web-2 in StatefulSet web successful")

	// Scale down: from the highest ordinal, one at a time.
	w, err := c.client.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: c.podsVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c.scale("web", 1)
	deleted := c.collectDeleted(w, 2)
	if strings.Join(deleted, ",") != "web-2,web-1" {
		t.Errorf("deleted %v, want web-2 then web-1", deleted)
	}
	c.waitStatus("web", "1 replica", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 && s.ReadyReplicas == 1 })
	c.checkEvent("Normal", "SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")

	// Back to 3, then a rolling update with partition 1.
	c.scale("web", 3)
	for _, name := range []string{"web-1", "web-2"} {
		c.waitPod(name, "")
		c.markReady(name)
	}
	c.waitStatus("web", "3 ready", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 3 })
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := c.set("web")
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}
		s.Spec.Template.Spec.Containers[0].Image = "img:2"
		_, err := c.client.AppsV1().StatefulSets(c.ns).Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	web2 := c.waitPod("web-2", firstRevision)
	secondRevision := statefulset.Revision(web2)
	if web2.Spec.Containers[0].Image != "img:2" {
		t.Errorf("updated web-2 runs %s", web2.Spec.Containers[0].Image)
	}
	// web-1 waits for the updated web-2 to be ready.
	c.waitStatus("web", "web-2 updated", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdateRevision == secondRevision && s.UpdatedReplicas == 1 && s.Replicas == 3
	})
	if web1, _ := c.pod("web-1"); web1 == nil || statefulset.Revision(web1) != firstRevision || web1.DeletionTimestamp != nil {
		t.Fatalf("web-1 was replaced before web-2 was ready: %v", web1)
	}
	c.markReady("web-2")
	c.waitPod("web-1", firstRevision)
	c.markReady("web-1")
	st = c.waitStatus("web", "partitioned update done", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 2 && s.CurrentReplicas == 1 && s.ReadyReplicas == 3
	})
	if st.CurrentRevision != firstRevision || st.UpdateRevision != secondRevision {
		t.Errorf("partitioned status = %+v", st)
	}
	if web0, _ := c.pod("web-0"); web0 == nil || statefulset.Revision(web0) != firstRevision {
		t.Errorf("web-0 below the partition was updated: %v", web0)
	}

	// Partition 0 finishes the rollout; the update revision becomes current.
	c.patchSpec("web", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
	c.waitPod("web-0", firstRevision)
	c.markReady("web-0")
	st = c.waitStatus("web", "rollout complete", func(s appsv1.StatefulSetStatus) bool {
		return s.CurrentRevision == secondRevision && s.CurrentReplicas == 3 && s.UpdatedReplicas == 3 && s.ReadyReplicas == 3
	})
	if st.UpdateRevision != secondRevision {
		t.Errorf("final status = %+v", st)
	}
}

// TestStatefulSetClaimsAndKubernetesRevision creates the StatefulSet of
// Kubernetes' compatibility test through the API: its revision has the
// name Kubernetes 1.33 gives it, and its pod names its claim even though
// berth serves no persistentvolumeclaims yet.
func TestStatefulSetClaimsAndKubernetesRevision(t *testing.T) {
	c := startCluster(t)
	c.ns = "test"
	set := statefulset.CompatSet()
	set.ObjectMeta = metav1.ObjectMeta{Name: "test"}
	if _, err := c.client.AppsV1().StatefulSets(c.ns).Create(context.Background(), set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := c.waitPod("test-0", "")
	if statefulset.Revision(pod) != "test-c77f6d978" {
		t.Errorf("revision %s, want Kubernetes' test-c77f6d978", statefulset.Revision(pod))
	}
	found := false
	for _, v := range pod.Spec.Volumes {
		if v.Name == "test" && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "test-test-0" {
			found = true
		}
	}
	if !found {
		t.Errorf("test-0 volumes = %+v", pod.Spec.Volumes)
	}
	c.markReady("test-0")
	c.waitStatus("test", "ready", func(s appsv1.StatefulSetStatus) bool {
		return s.ReadyReplicas == 1 && s.CurrentRevision == "test-c77f6d978"
	})
}

func (c *cluster) patchSpec(name, patch string) {
	c.t.Helper()
	if _, err := c.client.AppsV1().StatefulSets(c.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) podsVersion() string {
	c.t.Helper()
	l, err := c.client.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return l.ResourceVersion
}

// collectDeleted returns the names of the next n pods deleted, in order.
func (c *cluster) collectDeleted(w watch.Interface, n int) []string {
	c.t.Helper()
	var out []string
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				c.t.Fatalf("watch ended after %v", out)
			}
			if ev.Type == watch.Deleted {
				out = append(out, ev.Object.(*corev1.Pod).Name)
			}
		case <-timeout:
			c.t.Fatalf("deleted only %v", out)
		}
	}
	return out
}

// checkEvent waits for an event on the set with type, reason and message.
func (c *cluster) checkEvent(typ, reason, message string) {
	c.t.Helper()
	c.poll("event "+message, func() (bool, error) {
		l, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.Type == typ && e.Reason == reason && e.Message == message &&
				e.InvolvedObject.Kind == "StatefulSet" && e.Source.Component == "statefulset-controller" {
				return true, nil
			}
		}
		return false, nil
	})
}
