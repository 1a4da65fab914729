package rootcacert_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/rootcacert"
	"berth/internal/testserver"
)

// published waits for a kube-root-ca.crt in namespace ns holding ca, with
// Kubernetes' description, for which ok holds.
func published(t *testing.T, c kubernetes.Interface, ns string, ca []byte, ok func(*corev1.ConfigMap) bool) *corev1.ConfigMap {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cm, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), rootcacert.ConfigMapName, metav1.GetOptions{})
		if err == nil && cm.Data["ca.crt"] == string(ca) && cm.Annotations["kubernetes.io/description"] == rootcacert.Description && ok(cm) {
			return cm
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/kube-root-ca.crt not published: %v %+v", ns, err, cm)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func anyOne(*corev1.ConfigMap) bool { return true }

// Every namespace gets kube-root-ca.crt with the cluster CA; it comes back
// when deleted and is repaired when changed.
func TestPublisher(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ca := s.Rest.CAData
	if len(ca) == 0 {
		t.Fatal("no CA in the test server's configuration")
	}
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return rootcacert.NewWithConfig(sh, rootcacert.Config{RootCA: ca})
	})
	ctx, c := context.Background(), s.Client
	published(t, c, "default", ca, anyOne)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := published(t, c, "team", ca, anyOne)
	if err := c.CoreV1().ConfigMaps("team").Delete(ctx, rootcacert.ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := published(t, c, "team", ca, func(cm *corev1.ConfigMap) bool { return cm.UID != first.UID })

	changed := second.DeepCopy()
	changed.Data["ca.crt"] = "tampered"
	delete(changed.Annotations, rootcacert.DescriptionAnnotation)
	if _, err := c.CoreV1().ConfigMaps("team").Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	published(t, c, "team", ca, func(cm *corev1.ConfigMap) bool {
		return cm.UID == second.UID && cm.ResourceVersion != second.ResourceVersion
	})
}

func TestRootCARequired(t *testing.T) {
	s := &controller.Shared{}
	if _, err := rootcacert.NewWithConfig(s, rootcacert.Config{}); err == nil {
		t.Fatal("publisher without a CA accepted")
	}
}
