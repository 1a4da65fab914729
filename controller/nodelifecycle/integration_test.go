package nodelifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/nodelifecycle"
	"berth/controller/nodelifecycle/tainteviction"
	"berth/internal/testserver"
)

const timeout = 30 * time.Second

func TestNodeFailureAndRecovery(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cs := s.Client

	for _, name := range []string{"healthy", "failing"} {
		createNode(ctx, t, cs, name)
	}
	ns := "nodelifecycle"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unreachable := func(seconds *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
	}
	three := int64(3)
	createPod(ctx, t, cs, ns, "short", "failing", unreachable(&three))
	createPod(ctx, t, cs, ns, "forever", "failing", unreachable(nil))
	createPod(ctx, t, cs, ns, "victim", "healthy")

	// The healthy node's kubelet renews its lease; the failing one's does not.
	go func() {
		for ctx.Err() == nil {
			renewLease(ctx, cs, "healthy")
			time.Sleep(200 * time.Millisecond)
		}
	}()
	s.RunControllers(t, controller.Options{NodeMonitorGracePeriod: 3 * time.Second, NodeMonitorPeriod: 200 * time.Millisecond},
		nodelifecycle.New, tainteviction.New)

	// The failing node goes Unknown and gets its taints.
	var taintAdded time.Time
	poll(ctx, t, "failing node unreachable and tainted", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "failing", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := condition(n, corev1.NodeReady)
		if ready.Status != corev1.ConditionUnknown {
			return false, nil
		}
		if ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." {
			return false, fmt.Errorf("ready condition = %+v", ready)
		}
		var noExec, noSched bool
		for _, tt := range n.Spec.Taints {
			if tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoExecute {
				noExec = true
				if tt.TimeAdded != nil {
					taintAdded = tt.TimeAdded.Time
				}
			}
			noSched = noSched || tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoSchedule
		}
		return noExec && noSched, nil
	})
	if taintAdded.IsZero() {
		t.Fatal("unreachable taint has no timeAdded")
	}
	if p := getPod(ctx, t, cs, ns, "short"); p.DeletionTimestamp != nil && time.Since(taintAdded) < 2*time.Second {
		t.Errorf("pod tolerating 3s deleted %v after the taint", time.Since(taintAdded))
	}
	if n, _ := cs.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{}); condition(n, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Error("the healthy node is not ready")
	}

	// Its pods are marked not ready.
	poll(ctx, t, "pods of the failing node not ready", func() (bool, error) {
		for _, name := range []string{"short", "forever"} {
			p := getPod(ctx, t, cs, ns, name)
			if p.DeletionTimestamp == nil && podCondition(p, corev1.PodReady).Status != corev1.ConditionFalse {
				return false, nil
			}
		}
		return true, nil
	})

	// The pod tolerating the taint for 3s is deleted after them, with the
	// DisruptionTarget condition and an event.
	poll(ctx, t, "short pod deleted", func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil || p.DeletionTimestamp == nil {
			return false, err
		}
		if c := podCondition(p, corev1.DisruptionTarget); c.Status != corev1.ConditionTrue || c.Reason != "DeletionByTaintManager" {
			return false, fmt.Errorf("DisruptionTarget = %+v", c)
		}
		return true, nil
	})
	if d := time.Since(taintAdded); d < 2*time.Second {
		t.Errorf("pod tolerating 3s deleted %v after the taint", d)
	}
	poll(ctx, t, "eviction event", func() (bool, error) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "short" && e.Reason == "TaintManagerEviction" && e.Message == "Marking for deletion Pod "+ns+"/short" {
				return true, nil
			}
		}
		return false, nil
	})
	if p := getPod(ctx, t, cs, ns, "forever"); p.DeletionTimestamp != nil {
		t.Error("the pod tolerating the taint forever was deleted")
	}

	// A pod that does not tolerate a NoExecute taint goes at once.
	n, err := cs.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "example.com/drain", Effect: corev1.TaintEffectNoExecute})
	if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll(ctx, t, "untolerating pod deleted", func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil, nil
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("untolerating pod deleted after %v; want at once", d)
	}

	// Cordoning a node taints it unschedulable.
	n, err = cs.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = true
	if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, "unschedulable taint", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, tt := range n.Spec.Taints {
			if tt.Key == corev1.TaintNodeUnschedulable && tt.Effect == corev1.TaintEffectNoSchedule {
				return true, nil
			}
		}
		return false, nil
	})

	// The failing node comes back: its taints go.
	renewLease(ctx, cs, "failing")
	n, err = cs.CoreV1().Nodes().Get(ctx, "failing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(n)
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			renewLease(ctx, cs, "failing")
			time.Sleep(200 * time.Millisecond)
		}
	}()
	poll(ctx, t, "taints removed on recovery", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "failing", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(n.Spec.Taints) == 0 && condition(n, corev1.NodeReady).Status == corev1.ConditionTrue, nil
	})
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

func createNode(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(n)
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := metav1.NowMicro()
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setReady(n *corev1.Node) {
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
}

func renewLease(ctx context.Context, cs kubernetes.Interface, name string) {
	l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return
	}
	now := metav1.NowMicro()
	l.Spec.RenewTime = &now
	_, _ = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
}

func createPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, node string, tolerations ...corev1.Toleration) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.0.0.1"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func condition(n *corev1.Node, ct corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == ct {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func podCondition(p *corev1.Pod, ct corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == ct {
			return c
		}
	}
	return corev1.PodCondition{}
}
