package gc_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"berth/apiserver/registry"
	"berth/controller"
	"berth/controller/gc"
	"berth/internal/testserver"
)

const timeout = 20 * time.Second

// start runs a control plane with the garbage collector only.
func start(t *testing.T) *testserver.Server {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return gc.NewWithConfig(sh, gc.Config{ResyncPeriod: time.Second})
	})
	return s
}

// eventually polls cond until it holds or the timeout passes.
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

func namespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func replicaSet(t *testing.T, c kubernetes.Interface, ns, name string) *appsv1.ReplicaSet {
	t.Helper()
	labels := map[string]string{"app": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	out, err := c.AppsV1().ReplicaSets(ns).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func controllerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes, BlockOwnerDeletion: &block}
}

func pod(t *testing.T, c kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}, OwnerReferences: owners},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	out, err := c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func configMap(t *testing.T, c kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}
	out, err := c.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rsRef(rs *appsv1.ReplicaSet, block bool) metav1.OwnerReference {
	return controllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID, block)
}

func cmRef(cm *corev1.ConfigMap) metav1.OwnerReference {
	no := false
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, BlockOwnerDeletion: &no}
}

func gone(err error) (bool, error) {
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

func podCount(c kubernetes.Interface, ns string) func() (int, error) {
	return func() (int, error) {
		l, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		return len(l.Items), nil
	}
}

// Deleting an owner in the background (the default) removes it at once and
// its dependents after; a dependent with another, existing owner stays and
// loses the reference to the deleted one.
func TestBackgroundDeletion(t *testing.T) {
	s := start(t)
	ctx, c, ns := context.Background(), s.Client, "bg"
	namespace(t, c, ns)
	rs := replicaSet(t, c, ns, "web")
	keeper := configMap(t, c, ns, "keeper")
	for i := 0; i < 3; i++ {
		pod(t, c, ns, fmt.Sprintf("web-%d", i), rsRef(rs, true))
	}
	shared := pod(t, c, ns, "shared", rsRef(rs, false), cmRef(keeper))

	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("background deletion did not remove the owner at once: %v", err)
	}
	eventually(t, "owned pods deleted", func() (bool, error) {
		n, err := podCount(c, ns)()
		return n == 1, err
	})
	eventually(t, "reference to the deleted owner removed", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, shared.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(p.OwnerReferences) == 1 && p.OwnerReferences[0].UID == keeper.UID, nil
	})
}

// Foreground deletion keeps the owner, marked for deletion with the
// foregroundDeletion finalizer, until its blocking dependents are gone.
func TestForegroundDeletion(t *testing.T) {
	s := start(t)
	ctx, c, ns := context.Background(), s.Client, "fg"
	namespace(t, c, ns)
	rs := replicaSet(t, c, ns, "web")
	for i := 0; i < 3; i++ {
		pod(t, c, ns, fmt.Sprintf("web-%d", i), rsRef(rs, true))
	}
	// Blocking is only as good as the collector's graph, as in Kubernetes:
	// a dependent it has not seen yet does not hold the owner. A pod of an
	// owner that never existed, created after the others and collected,
	// shows the graph has seen them (it takes each resource's events in
	// order).
	ghost := rs.DeepCopy()
	ghost.Name, ghost.UID = "ghost", types.UID("00000000-0000-0000-0000-00000000abcd")
	pod(t, c, ns, "sentinel", rsRef(ghost, false))
	eventually(t, "the sentinel pod collected", func() (bool, error) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, "sentinel", metav1.GetOptions{})
		return gone(err)
	})
	pods, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rs.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer pods.Stop()
	owners, err := c.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rs.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer owners.Stop()

	fg := metav1.DeletePropagationForeground
	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	// The owner waits, with the finalizer, for its dependents.
	marked := false
	var ownerGone int64
	deadline := time.After(timeout)
	for ownerGone == 0 {
		select {
		case ev := <-owners.ResultChan():
			o := ev.Object.(*appsv1.ReplicaSet)
			switch ev.Type {
			case watch.Modified:
				if o.DeletionTimestamp != nil && len(o.Finalizers) == 1 && o.Finalizers[0] == metav1.FinalizerDeleteDependents {
					marked = true
				}
			case watch.Deleted:
				ownerGone = rv(t, o.ResourceVersion)
			}
		case <-deadline:
			t.Fatal("the owner was not deleted")
		}
	}
	if !marked {
		t.Error("the owner was never seen marked for deletion with the foregroundDeletion finalizer")
	}
	deleted := 0
	for deleted < 3 {
		select {
		case ev := <-pods.ResultChan():
			if ev.Type != watch.Deleted || ev.Object.(*corev1.Pod).Name == "sentinel" {
				continue
			}
			deleted++
			if at := rv(t, ev.Object.(*corev1.Pod).ResourceVersion); at > ownerGone {
				t.Errorf("pod %s deleted (rv %d) after its owner (rv %d)", ev.Object.(*corev1.Pod).Name, at, ownerGone)
			}
		case <-deadline:
			t.Fatalf("only %d pods seen deleted", deleted)
		}
	}
}

func rv(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

// Orphan propagation removes the owner after removing the references to it
// from its dependents, which stay.
func TestOrphanDeletion(t *testing.T) {
	s := start(t)
	ctx, c, ns := context.Background(), s.Client, "orphan"
	namespace(t, c, ns)
	rs := replicaSet(t, c, ns, "web")
	for i := 0; i < 2; i++ {
		pod(t, c, ns, fmt.Sprintf("web-%d", i), rsRef(rs, true))
	}
	orphan := metav1.DeletePropagationOrphan
	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "owner deleted", func() (bool, error) {
		return gone(getErr(c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})))
	})
	l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 {
		t.Fatalf("%d pods left, want 2", len(l.Items))
	}
	for _, p := range l.Items {
		if len(p.OwnerReferences) != 0 {
			t.Errorf("pod %s keeps owner references %v", p.Name, p.OwnerReferences)
		}
	}
}

func getErr[T any](_ T, err error) error { return err }

// Owners are identified by uid: a dependent whose owner exists under the
// same name with another uid is garbage; one whose owner exists stays.
func TestOwnerUIDMismatch(t *testing.T) {
	s := start(t)
	ctx, c, ns := context.Background(), s.Client, "uid"
	namespace(t, c, ns)
	owner := configMap(t, c, ns, "owner")
	stale := cmRef(owner)
	stale.UID = "00000000-0000-0000-0000-000000000001"
	configMap(t, c, ns, "good", cmRef(owner))
	configMap(t, c, ns, "bad", stale)
	eventually(t, "dependent of a stale uid deleted", func() (bool, error) {
		return gone(getErr(c.CoreV1().ConfigMaps(ns).Get(ctx, "bad", metav1.GetOptions{})))
	})
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "good", metav1.GetOptions{}); err != nil {
		t.Fatalf("dependent of an existing owner: %v", err)
	}
}

// A namespaced dependent may have a cluster-scoped owner; deleting the
// owner deletes it.
func TestClusterScopedOwner(t *testing.T) {
	s := start(t)
	ctx, c, ns := context.Background(), s.Client, "cluster-owner"
	namespace(t, c, ns)
	cr, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	configMap(t, c, ns, "dep", controllerRef("rbac.authorization.k8s.io/v1", "ClusterRole", cr.Name, cr.UID, false))
	if err := c.RbacV1().ClusterRoles().Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dependent of a cluster-scoped owner deleted", func() (bool, error) {
		return gone(getErr(c.CoreV1().ConfigMaps(ns).Get(ctx, "dep", metav1.GetOptions{})))
	})
}

// A reference to a namespaced owner of another namespace is invalid: the
// dependent is reported with an OwnerRefInvalidNamespace event and deleted
// (its owner does not exist in its namespace). A cluster-scoped object
// referring to a namespaced owner is reported and left alone.
func TestInvalidNamespaceReferences(t *testing.T) {
	s := start(t)
	ctx, c := context.Background(), s.Client
	namespace(t, c, "a")
	namespace(t, c, "b")
	owner := configMap(t, c, "a", "owner")
	dep := configMap(t, c, "b", "dep", cmRef(owner))
	cr, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
		Name: "cluster-dep", OwnerReferences: []metav1.OwnerReference{cmRef(owner)},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "dependent in the wrong namespace deleted", func() (bool, error) {
		return gone(getErr(c.CoreV1().ConfigMaps("b").Get(ctx, "dep", metav1.GetOptions{})))
	})
	want := fmt.Sprintf("ownerRef [v1/ConfigMap, namespace: b, name: owner, uid: %s] does not exist in namespace \"b\"", owner.UID)
	expectEvent(t, c, "b", dep.UID, want)
	want = fmt.Sprintf("ownerRef [v1/ConfigMap, namespace: , name: owner, uid: %s] does not exist in namespace \"\"", owner.UID)
	expectEvent(t, c, "default", cr.UID, want)
	if _, err := c.RbacV1().ClusterRoles().Get(ctx, cr.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("cluster-scoped object with a namespaced owner: %v", err)
	}
}

func expectEvent(t *testing.T, c kubernetes.Interface, ns string, uid types.UID, message string) {
	t.Helper()
	sel := fields.OneTermEqualSelector("involvedObject.uid", string(uid)).String()
	eventually(t, "OwnerRefInvalidNamespace event", func() (bool, error) {
		l, err := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.Reason == "OwnerRefInvalidNamespace" && e.Type == corev1.EventTypeWarning && e.Message == message &&
				e.Source.Component == gc.Component {
				return true, nil
			}
		}
		return false, fmt.Errorf("events: %+v", l.Items)
	})
}

// Resources added while the collector runs are followed after the next
// discovery resync.
func TestResourceAddedAtRunTime(t *testing.T) {
	s := start(t)
	ctx, ns := context.Background(), "runtime"
	namespace(t, s.Client, ns)
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	err := s.Server.AddResource(&registry.Resource{
		Group: "example.com", Version: "v1", Resource: "widgets", Kind: "Widget", ListKind: "WidgetList",
		Singular: "widget", Namespaced: true,
		New: func() runtime.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		NewList: func() runtime.Object {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(gvk.GroupVersion().WithKind("WidgetList"))
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	widgets := s.Dynamic.Resource(gvk.GroupVersion().WithResource("widgets")).Namespace(ns)
	// A widget owns a config map, and a config map owns a widget.
	owner, err := widgets.Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]interface{}{"name": "owner"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	configMap(t, s.Client, ns, "dep", controllerRef("example.com/v1", "Widget", "owner", owner.GetUID(), false))
	cmOwner := configMap(t, s.Client, ns, "owner")
	dep := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]interface{}{"name": "dep"},
	}}
	dep.SetOwnerReferences([]metav1.OwnerReference{cmRef(cmOwner)})
	if _, err := widgets.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The owners go before the collector may have seen any widget: a
	// widget is verified when its monitor starts.
	if err := widgets.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "config map owned by a widget deleted", func() (bool, error) {
		return gone(getErr(s.Client.CoreV1().ConfigMaps(ns).Get(ctx, "dep", metav1.GetOptions{})))
	})
	eventually(t, "widget owned by a config map deleted", func() (bool, error) {
		return gone(getErr(widgets.Get(ctx, "dep", metav1.GetOptions{})))
	})
}
