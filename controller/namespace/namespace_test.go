package namespace_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/namespace"
	"berth/controller/rootcacert"
	"berth/controller/serviceaccount"
	"berth/internal/testserver"
)

const timeout = 30 * time.Second

func start(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return namespace.NewWithConfig(sh, namespace.Config{DeletionGracePeriod: 100 * time.Millisecond})
	})
	return s.Client
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
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
		time.Sleep(50 * time.Millisecond)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
}

// Deleting a namespace deletes everything in it, then the namespace.
func TestNamespaceDeletion(t *testing.T) {
	c := start(t)
	ctx, ns := context.Background(), "doomed"
	must[*corev1.Namespace](t)(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	must[*corev1.ConfigMap](t)(c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}))
	must[*corev1.Secret](t)(c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}))
	must[*corev1.Pod](t)(c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: podSpec()}, metav1.CreateOptions{}))
	labels := map[string]string{"app": "x"}
	must[*appsv1.Deployment](t)(c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()},
		},
	}, metav1.CreateOptions{}))
	// Another namespace is left alone.
	must[*corev1.ConfigMap](t)(c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}))

	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace deleted", func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	left := map[string]int{}
	if l, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err == nil {
		left["config maps"] = len(l.Items)
	}
	if l, err := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		left["secrets"] = len(l.Items)
	}
	if l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		left["pods"] = len(l.Items)
	}
	if l, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		left["deployments"] = len(l.Items)
	}
	for what, n := range left {
		if n != 0 {
			t.Errorf("%d %s left", n, what)
		}
	}
	if len(left) != 4 {
		t.Errorf("lists failed: %v", left)
	}
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "cm", metav1.GetOptions{}); err != nil {
		t.Errorf("config map of another namespace: %v", err)
	}
}

// Content with finalizers delays the namespace; pods go before anything
// else; the conditions say what remains; once the finalizer goes, so does
// the namespace.
func TestFinalizersDelayDeletion(t *testing.T) {
	c := start(t)
	ctx, ns := context.Background(), "slow"
	must[*corev1.Namespace](t)(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	must[*corev1.Pod](t)(c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: []string{"example.com/hold"}}, Spec: podSpec(),
	}, metav1.CreateOptions{}))
	must[*corev1.ConfigMap](t)(c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}))

	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[corev1.NamespaceConditionType][3]string{
		corev1.NamespaceDeletionDiscoveryFailure: {"False", "ResourcesDiscovered", "All resources successfully discovered"},
		corev1.NamespaceDeletionGVParsingFailure: {"False", "ParsedGroupVersions", "All legacy kube types successfully parsed"},
		corev1.NamespaceDeletionContentFailure:   {"False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
		corev1.NamespaceContentRemaining:         {"True", "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances"},
		corev1.NamespaceFinalizersRemaining:      {"True", "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
	}
	var got *corev1.Namespace
	eventually(t, "conditions reporting the pod", func() (bool, error) {
		var err error
		got, err = c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil || len(got.Status.Conditions) != len(want) {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if w := want[cond.Type]; w != [3]string{string(cond.Status), cond.Reason, cond.Message} {
				return false, nil
			}
		}
		return true, nil
	})
	if got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase %s", got.Status.Phase)
	}
	// The pod is marked for deletion; the config map waits for it.
	p := must[*corev1.Pod](t)(c.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{}))
	if p.DeletionTimestamp == nil {
		t.Error("pod not marked for deletion")
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "cm", metav1.GetOptions{}); err != nil {
		t.Errorf("config map deleted before the pod: %v", err)
	}

	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, "p", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace deleted", func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// A namespace goes even while the controllers that fill every namespace
// (default service account, root CA) run: they create nothing in a
// terminating namespace.
func TestDeletionWithPublishers(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{},
		func(sh *controller.Shared) (controller.Controller, error) {
			return namespace.NewWithConfig(sh, namespace.Config{DeletionGracePeriod: 100 * time.Millisecond})
		},
		serviceaccount.New,
		func(sh *controller.Shared) (controller.Controller, error) {
			return rootcacert.NewWithConfig(sh, rootcacert.Config{RootCA: s.Rest.CAData})
		},
	)
	ctx, c, ns := context.Background(), s.Client, "filled"
	must[*corev1.Namespace](t)(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	eventually(t, "default service account and root CA", func() (bool, error) {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, err
		}
		_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, rootcacert.ConfigMapName, metav1.GetOptions{})
		return err == nil, err
	})
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace deleted", func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}
