package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/internal/testserver"
	"berth/scheduler"
)

// startScheduler runs a scheduler (with short back-offs) against ts until
// the test ends.
func startScheduler(t testing.TB, ts *testserver.Server) *scheduler.Scheduler {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(ts.ProtobufConfig())
	s, err := scheduler.NewForTest(scheduler.Config{Client: client, Logger: ts.Config.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	return s
}

type nodeOpt func(*v1.Node)

func withLabels(kv ...string) nodeOpt {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect v1.TaintEffect) nodeOpt {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

// testNode is a Ready node with allocatable cpu, memory and pods.
func testNode(name, cpu, mem string, pods int64, opts ...nodeOpt) *v1.Node {
	alloc := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(cpu),
		v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func createNode(t testing.TB, c kubernetes.Interface, n *v1.Node) {
	t.Helper()
	ctx := context.Background()
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
	created.Status = n.Status
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update node status %s: %v", n.Name, err)
	}
}

type podOpt func(*v1.Pod)

func withPodLabels(kv ...string) podOpt {
	return func(p *v1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

// testPod is a pod with one container requesting cpu and memory ("" for
// none).
func testPod(ns, name, cpu, mem string, opts ...podOpt) *v1.Pod {
	req := v1.ResourceList{}
	if cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Image: "busybox", Resources: v1.ResourceRequirements{Requests: req},
		}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func createPod(t testing.TB, c kubernetes.Interface, p *v1.Pod) *v1.Pod {
	t.Helper()
	created, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return created
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBound waits for a pod to be bound and returns its node.
func waitBound(t testing.TB, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	waitFor(t, 20*time.Second, "pod "+name+" bound", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	return node
}

// waitUnschedulable waits for a pod's PodScheduled=False condition and
// returns it.
func waitUnschedulable(t testing.TB, c kubernetes.Interface, ns, name string, want func(msg string) bool) v1.PodCondition {
	t.Helper()
	var got v1.PodCondition
	waitFor(t, 20*time.Second, "pod "+name+" unschedulable", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && (want == nil || want(cond.Message)) {
				got = cond
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions: %+v", p.Status.Conditions)
	})
	return got
}

// waitEvent waits for an events.k8s.io event about a pod with a reason
// and returns it.
func waitEvent(t testing.TB, c kubernetes.Interface, ns, pod, reason, note string) eventsv1.Event {
	t.Helper()
	var got eventsv1.Event
	waitFor(t, 20*time.Second, reason+" event for "+pod, func() (bool, error) {
		list, err := c.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == pod && e.Reason == reason {
				seen = append(seen, e.Note)
				if note == "" || e.Note == note {
					got = e
					return true, nil
				}
			}
		}
		return false, fmt.Errorf("events seen: %s", strings.Join(seen, " | "))
	})
	return got
}
