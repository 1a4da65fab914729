package ingressstatus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/ingressstatus"
	"berth/internal/testserver"
)

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func setNode(t *testing.T, c kubernetes.Interface, name, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createIngress(t *testing.T, c kubernetes.Interface, name string, class *string) {
	t.Helper()
	if _, err := c.NetworkingV1().Ingresses("default").Create(context.Background(), &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: class,
			DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func addresses(t *testing.T, c kubernetes.Interface, name string) []string {
	t.Helper()
	ing, err := c.NetworkingV1().Ingresses("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ing.Status.LoadBalancer.Ingress {
		out = append(out, i.IP)
	}
	return out
}

func want(t *testing.T, c kubernetes.Interface, name string, ips ...string) {
	t.Helper()
	eventually(t, name, func() error {
		if got := addresses(t, c, name); !slices.Equal(got, ips) {
			return fmt.Errorf("addresses %v, want %v", got, ips)
		}
		return nil
	})
}

func TestIngressStatus(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	c, ctx := s.Client, context.Background()
	setNode(t, c, "a", "192.168.0.1", true)
	setNode(t, c, "b", "192.168.0.2", false)
	s.RunControllers(t, controller.Options{}, ingressstatus.New)

	createIngress(t, c, "other", ptr.To("nginx"))
	createIngress(t, c, "web", ptr.To("berth"))
	want(t, c, "web", "192.168.0.1")
	setNode(t, c, "b", "192.168.0.2", true)
	want(t, c, "web", "192.168.0.1", "192.168.0.2")
	if err := c.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want(t, c, "web", "192.168.0.2")

	// Without a class: berth's only while "berth" is the default class.
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "berth", Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "false"}},
		Spec:       networkingv1.IngressClassSpec{Controller: ingressstatus.DefaultController},
	}
	cur, err := c.NetworkingV1().IngressClasses().Get(ctx, "berth", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	case err == nil:
		cur.Annotations = ic.Annotations
		_, err = c.NetworkingV1().IngressClasses().Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	createIngress(t, c, "classless", nil)
	time.Sleep(300 * time.Millisecond)
	if got := addresses(t, c, "classless"); len(got) != 0 {
		t.Errorf("classless ingress got %v while berth is not the default", got)
	}
	cur, err = c.NetworkingV1().IngressClasses().Get(ctx, "berth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Annotations[networkingv1.AnnotationIsDefaultIngressClass] = "true"
	if _, err := c.NetworkingV1().IngressClasses().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(t, c, "classless", "192.168.0.2")
	if got := addresses(t, c, "other"); len(got) != 0 {
		t.Errorf("another class's ingress got %v", got)
	}
}
