package podgc_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/podgc"
	"berth/internal/testserver"
)

const timeout = 20 * time.Second

func start(t *testing.T, threshold int) kubernetes.Interface {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return podgc.NewWithConfig(sh, podgc.Config{
			TerminatedPodThreshold: threshold, CheckPeriod: 100 * time.Millisecond, QuarantineTime: 200 * time.Millisecond,
		})
	})
	return s.Client
}

func create(t *testing.T, c kubernetes.Interface, name, node string) *corev1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(t *testing.T, c kubernetes.Interface) map[string]bool {
	t.Helper()
	l, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range l.Items {
		out[p.Name] = true
	}
	return out
}

// Pods of a deleted node, terminating or not, are marked Failed with the
// DisruptionTarget condition and deleted; pods of other nodes stay.
func TestPodsOfDeletedNode(t *testing.T) {
	c := start(t, 0)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(t, c, "stays", "n1")
	doomed := create(t, c, "doomed", "n2")
	create(t, c, "terminating", "n2")
	// A scheduled pod waits for its kubelet: it stays, terminating.
	if err := c.CoreV1().Pods("default").Delete(ctx, "terminating", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: doomed.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	time.Sleep(300 * time.Millisecond) // some passes with both nodes present
	if got := names(t, c); len(got) != 3 {
		t.Fatalf("pods deleted while their nodes exist: %v", got)
	}
	if err := c.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	failed, deleted := false, map[string]bool{}
	deadline := time.After(timeout)
	for len(deleted) < 2 {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Deleted:
				deleted[p.Name] = true
			case ev.Type == watch.Modified && p.Name == "doomed" && p.Status.Phase == corev1.PodFailed:
				for _, cond := range p.Status.Conditions {
					if cond.Type == corev1.DisruptionTarget && cond.Reason == "DeletionByPodGC" && cond.Message == "PodGC: node no longer exists" {
						failed = !deleted["doomed"]
					}
				}
			}
		case <-deadline:
			t.Fatalf("deleted %v", deleted)
		}
	}
	if !deleted["doomed"] || !deleted["terminating"] {
		t.Errorf("deleted %v", deleted)
	}
	if !failed {
		t.Error("the orphaned pod was not marked Failed with DisruptionTarget before its deletion")
	}
	if got := names(t, c); !got["stays"] || len(got) != 1 {
		t.Errorf("pods left: %v", got)
	}
}

// Terminated pods beyond the threshold go, oldest first.
func TestTerminatedThreshold(t *testing.T) {
	c := start(t, 1)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		p := create(t, c, n, "")
		p.Status.Phase = corev1.PodSucceeded
		if _, err := c.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(t, c, "running", "")
	deadline := time.Now().Add(timeout)
	for {
		got := names(t, c)
		if len(got) == 2 {
			if !got["c"] || !got["running"] {
				t.Fatalf("pods left: %v, want the newest terminated and the running one", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods left: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
