package disruption_test

import (
	"berth/controller/disruption"
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/internal/testserver"
)

const timeout = 30 * time.Second

func TestBudgetAndEviction(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cs := s.Client
	ns := "disruption"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	s.RunControllers(t, controller.Options{}, disruption.New)

	for i, name := range []string{"a", "b", "c"} {
		runPod(ctx, t, cs, ns, name, fmt.Sprintf("10.0.0.%d", i+1))
	}
	two := intstr.FromInt32(2)
	_, err = cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{})
	must(t, err)

	waitStatus(ctx, t, cs, ns, "3 healthy, 1 allowed", func(p *policyv1.PodDisruptionBudget) error {
		st := p.Status
		if st.CurrentHealthy != 3 || st.DesiredHealthy != 2 || st.ExpectedPods != 3 || st.DisruptionsAllowed != 1 || st.ObservedGeneration != p.Generation {
			return fmt.Errorf("status %+v", st)
		}
		if c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition); c == nil ||
			c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})

	// One eviction is allowed; the next is refused with 429.
	must(t, cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns}}))
	err = cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns}})
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v; want 429 TooManyRequests", err)
	}

	// The controller sees a going: 2 healthy, none allowed, no disrupted
	// pod left to track.
	waitStatus(ctx, t, cs, ns, "2 healthy, 0 allowed", func(p *policyv1.PodDisruptionBudget) error {
		st := p.Status
		if st.CurrentHealthy != 2 || st.DisruptionsAllowed != 0 || len(st.DisruptedPods) != 0 {
			return fmt.Errorf("status %+v", st)
		}
		if c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition); c == nil ||
			c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	err = cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns}})
	if !apierrors.IsTooManyRequests(err) {
		t.Errorf("eviction below the budget: %v; want 429", err)
	}
}

// TestScaleSubresource reads a Deployment's scale the way budgets over
// other kinds of controllers are computed.
func TestScaleSubresource(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	labels := map[string]string{"app": "web"}
	d, err := s.Client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: disruption.I32(7), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/web:1"}}}}},
	}, metav1.CreateOptions{})
	must(t, err)
	client, err := kubernetes.NewForConfig(s.ProtobufConfig())
	must(t, err)
	got, err := disruption.ScaleOf(ctx, client, disruption.Ref("apps/v1", "Deployment", "web", d.UID), "default")
	if err != nil || got == nil || got.Replicas != 7 || got.UID != d.UID {
		t.Fatalf("scale = %+v, %v; want 7 replicas", got, err)
	}
	if got, err := disruption.ScaleOf(ctx, client, disruption.Ref("apps/v1", "Deployment", "web", "other"), "default"); got != nil || err != nil {
		t.Errorf("scale of another object of that name = %+v, %v; want none", got, err)
	}
	if got, err := disruption.ScaleOf(ctx, client, disruption.Ref("apps/v1", "Deployment", "gone", "x"), "default"); got != nil || err != nil {
		t.Errorf("scale of a missing controller = %+v, %v; want none", got, err)
	}
	if _, err := disruption.ScaleOf(ctx, client, disruption.Ref("v1", "ConfigMap", "x", "x"), "default"); err == nil {
		t.Error("scale of a kind without scale subresource: no error")
	}
}

func waitStatus(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, what string, check func(*policyv1.PodDisruptionBudget) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		p, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		last = check(p)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, ip string) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "example.com/web:1"}}},
	}, metav1.CreateOptions{})
	must(t, err)
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	must(t, err)
}
