package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/serviceaccount"
	"berth/internal/testserver"
)

func waitFor(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sa, err := c.CoreV1().ServiceAccounts(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			return sa
		}
		if time.Now().After(deadline) {
			t.Fatalf("service account %s/%s: %v", ns, name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every namespace, existing or new, gets a "default" service account,
// created again when deleted.
func TestDefaultServiceAccount(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, serviceaccount.New)
	ctx, c := context.Background(), s.Client
	waitFor(t, c, "kube-system", "default")
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, c, "team", "default")
	if err := c.CoreV1().ServiceAccounts("team").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var again *corev1.ServiceAccount
	deadline := time.Now().Add(20 * time.Second)
	for again == nil || again.UID == first.UID {
		if time.Now().After(deadline) {
			t.Fatal("default service account not created again")
		}
		time.Sleep(50 * time.Millisecond)
		again, _ = c.CoreV1().ServiceAccounts("team").Get(ctx, "default", metav1.GetOptions{})
	}
	if len(again.Labels)+len(again.Annotations)+len(again.Secrets) != 0 {
		t.Errorf("unexpected content: %+v", again)
	}
}
