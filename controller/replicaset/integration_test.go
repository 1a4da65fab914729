package replicaset_test

import (
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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/replicaset"
	"berth/internal/testserver"
)

const waitTimeout = 30 * time.Second

type tenv struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
	ctx    context.Context
}

// TestReplicaSets runs the ReplicaSet controller against a real control
// plane.
func TestReplicaSets(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, replicaset.New)
	cfg := rest.CopyConfig(s.Rest)
	cfg.ContentType = "application/json"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	run := func(name string, f func(e *tenv)) {
		seq++
		nsName := fmt.Sprintf("rs%d", seq)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
			defer cancel()
			if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			f(&tenv{t: t, client: client, ns: nsName, ctx: ctx})
		})
	}
	run("create-replace-scale", testCreateReplaceScale)
	run("adopt-release", testAdoptRelease)
	run("min-ready-seconds", testMinReadySeconds)
	run("failed-create", testFailedCreate)
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}, Annotations: map[string]string{"note": "from template"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

func (e *tenv) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	why := ""
	for time.Now().Before(deadline) {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s: %s", what, why)
}

func (e *tenv) pods(selector string) []corev1.Pod {
	e.t.Helper()
	l, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func (e *tenv) getRS(name string) *appsv1.ReplicaSet {
	e.t.Helper()
	rs, err := e.client.AppsV1().ReplicaSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// updateRS applies change to the stored ReplicaSet, retrying conflicts
// with the controller's status writes.
func (e *tenv) updateRS(name string, change func(*appsv1.ReplicaSet)) {
	e.t.Helper()
	for {
		rs := e.getRS(name)
		change(rs)
		_, err := e.client.AppsV1().ReplicaSets(e.ns).Update(e.ctx, rs, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			e.t.Fatal(err)
		}
	}
}

func (e *tenv) setReady(p *corev1.Pod) {
	e.t.Helper()
	for {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		_, err := e.client.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		fresh, gerr := e.client.CoreV1().Pods(e.ns).Get(e.ctx, p.Name, metav1.GetOptions{})
		if gerr != nil {
			e.t.Fatalf("ready %s: %v", p.Name, err)
		}
		p = fresh
	}
}

func (e *tenv) waitPods(selector string, n int) []corev1.Pod {
	e.t.Helper()
	var pods []corev1.Pod
	e.eventually(fmt.Sprintf("%d pods", n), func() (bool, string) {
		pods = e.pods(selector)
		return len(pods) == n, fmt.Sprintf("%d pods", len(pods))
	})
	return pods
}

func (e *tenv) events(reason string) []corev1.Event {
	l, err := e.client.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Event
	for _, ev := range l.Items {
		if ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out
}

// testCreateReplaceScale: 3 pods from the template; a deleted pod is
// replaced; scaling down deletes the pods that are not ready.
func testCreateReplaceScale(e *tenv) {
	rs, err := e.client.AppsV1().ReplicaSets(e.ns).Create(e.ctx, newRS("web", 3), metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	pods := e.waitPods("app=web", 3)
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if !strings.HasPrefix(p.Name, "web-") || p.Labels["tier"] != "web" || p.Annotations["note"] != "from template" ||
			ref == nil || ref.UID != rs.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			e.t.Errorf("pod %s: %+v", p.Name, p.ObjectMeta)
		}
	}
	e.eventually("status of 3", func() (bool, string) {
		s := e.getRS("web").Status
		return s.Replicas == 3 && s.FullyLabeledReplicas == 3 && s.ObservedGeneration == 1, fmt.Sprintf("%+v", s)
	})
	e.eventually("SuccessfulCreate events", func() (bool, string) {
		evs := e.events("SuccessfulCreate")
		for _, ev := range evs {
			if !strings.HasPrefix(ev.Message, "Created pod: web-") || ev.Source.Component != "replicaset-controller" {
				return false, ev.Message
			}
		}
		return len(evs) == 3, fmt.Sprintf("%d events", len(evs))
	})

	// Two pods become ready; the third is deleted and replaced.
	e.setReady(&pods[0])
	e.setReady(&pods[1])
	if err := e.client.CoreV1().Pods(e.ns).Delete(e.ctx, pods[2].Name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	var replacement string
	e.eventually("a replacement", func() (bool, string) {
		ps := e.pods("app=web")
		for _, p := range ps {
			if p.Name != pods[0].Name && p.Name != pods[1].Name && p.Name != pods[2].Name {
				replacement = p.Name
			}
		}
		return len(ps) == 3 && replacement != "", fmt.Sprintf("%d pods", len(ps))
	})
	e.eventually("2 ready", func() (bool, string) {
		s := e.getRS("web").Status
		return s.ReadyReplicas == 2 && s.AvailableReplicas == 2, fmt.Sprintf("%+v", s)
	})

	// Scale to 2: the replacement, not ready, goes.
	e.updateRS("web", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](2) })
	e.waitPods("app=web", 2)
	for _, p := range e.pods("app=web") {
		if p.Name == replacement {
			e.t.Errorf("scaling down kept the pod that is not ready")
		}
	}
	e.eventually("SuccessfulDelete event", func() (bool, string) {
		for _, ev := range e.events("SuccessfulDelete") {
			if ev.Message == "Deleted pod: "+replacement {
				return true, ""
			}
		}
		return false, "none"
	})
	e.eventually("status of 2", func() (bool, string) {
		rs := e.getRS("web")
		s := rs.Status
		return s.Replicas == 2 && s.ReadyReplicas == 2 && s.ObservedGeneration == rs.Generation, fmt.Sprintf("%+v", s)
	})
}

// testAdoptRelease: a matching orphan is adopted (no pod created for it);
// a pod relabeled out of the selector is released and replaced.
func testAdoptRelease(e *tenv) {
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	if _, err := e.client.CoreV1().Pods(e.ns).Create(e.ctx, orphan, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	rs, err := e.client.AppsV1().ReplicaSets(e.ns).Create(e.ctx, newRS("web", 2), metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitPods("app=web", 2)
	e.eventually("the orphan adopted", func() (bool, string) {
		p, err := e.client.CoreV1().Pods(e.ns).Get(e.ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ref := metav1.GetControllerOf(p)
		return ref != nil && ref.UID == rs.UID && ref.Kind == "ReplicaSet" && *ref.BlockOwnerDeletion, fmt.Sprintf("%+v", p.OwnerReferences)
	})
	// Relabel the orphan out of the selector.
	patch := []byte(`{"metadata":{"labels":{"app":"gone"}}}`)
	if _, err := e.client.CoreV1().Pods(e.ns).Patch(e.ctx, "orphan", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("the pod released", func() (bool, string) {
		p, err := e.client.CoreV1().Pods(e.ns).Get(e.ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return metav1.GetControllerOf(p) == nil, fmt.Sprintf("%+v", p.OwnerReferences)
	})
	pods := e.waitPods("app=web", 2)
	for _, p := range pods {
		if p.Name == "orphan" {
			e.t.Errorf("released pod still selected")
		}
	}
}

// testMinReadySeconds: ready pods count as available only after
// minReadySeconds.
func testMinReadySeconds(e *tenv) {
	rs := newRS("slow", 2)
	rs.Spec.MinReadySeconds = 2
	if _, err := e.client.AppsV1().ReplicaSets(e.ns).Create(e.ctx, rs, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	pods := e.waitPods("app=slow", 2)
	readyAt := time.Now()
	for i := range pods {
		e.setReady(&pods[i])
	}
	e.eventually("ready but not available", func() (bool, string) {
		s := e.getRS("slow").Status
		return s.ReadyReplicas == 2 && s.AvailableReplicas == 0, fmt.Sprintf("%+v", s)
	})
	e.eventually("available", func() (bool, string) {
		s := e.getRS("slow").Status
		return s.AvailableReplicas == 2, fmt.Sprintf("%+v", s)
	})
	if d := time.Since(readyAt); d < 2*time.Second {
		e.t.Errorf("available after %s, before minReadySeconds", d)
	}
}

// testFailedCreate: pods the API server refuses (an unknown priority
// class) give FailedCreate events and the ReplicaFailure condition, which
// goes once pods can be created.
func testFailedCreate(e *tenv) {
	rs := newRS("bad", 3)
	rs.Spec.Template.Spec.PriorityClassName = "no-such-class"
	if _, err := e.client.AppsV1().ReplicaSets(e.ns).Create(e.ctx, rs, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("ReplicaFailure", func() (bool, string) {
		s := e.getRS("bad").Status
		for _, c := range s.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && c.Reason == "FailedCreate" &&
				strings.Contains(c.Message, "no-such-class") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", s.Conditions)
	})
	// Events are written in the background: they may come after the
	// condition.
	e.eventually("FailedCreate event", func() (bool, string) {
		evs := e.events("FailedCreate")
		ok := len(evs) > 0 && strings.HasPrefix(evs[0].Message, "Error creating: ") && evs[0].Type == corev1.EventTypeWarning
		return ok, fmt.Sprintf("FailedCreate events %+v", evs)
	})
	if n := len(e.pods("app=bad")); n != 0 {
		e.t.Errorf("%d pods created", n)
	}
	// Fix the template: the condition goes.
	e.updateRS("bad", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.PriorityClassName = "" })
	e.waitPods("app=bad", 3)
	e.eventually("no ReplicaFailure", func() (bool, string) {
		s := e.getRS("bad").Status
		return len(s.Conditions) == 0 && s.Replicas == 3, fmt.Sprintf("%+v", s)
	})
}
