package integration

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestProtobufClient drives the server with client-go's typed clients as
// they come: since client-go 0.33 they send and accept protobuf for
// built-in types, request bodies of deletes (DeleteOptions) included.
func TestProtobufClient(t *testing.T) {
	t.Parallel()
	s := start(t)
	c, err := kubernetes.NewForConfig(s.Rest) // protobuf by default
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := c.CoreV1().ConfigMaps(ns)
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm, err := cms.Create(ctx, configMap("pb", map[string]string{"app": "pb"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	cm.Data["k"] = "v2"
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app=pb"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v (%d items)", err, len(list.Items))
	}
	expectWatchEvent(t, w, watch.Added, "pb")
	expectWatchEvent(t, w, watch.Modified, "pb")

	t.Run("Delete", func(t *testing.T) {
		if err := cms.Delete(ctx, "pb", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete with a protobuf DeleteOptions body: %v", err)
		}
		expectWatchEvent(t, w, watch.Deleted, "pb")
	})
	t.Run("DeleteWithPreconditions", func(t *testing.T) {
		other, err := cms.Create(ctx, configMap("pb2", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = cms.Delete(ctx, "pb2", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &other.UID}, GracePeriodSeconds: ptr.To[int64](0)})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
	t.Run("DeleteCollection", func(t *testing.T) {
		for _, n := range []string{"x", "y"} {
			if _, err := cms.Create(ctx, configMap(n, map[string]string{"set": "xy"}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "set=xy"}); err != nil {
			t.Fatalf("deletecollection: %v", err)
		}
	})
	t.Run("Scale", func(t *testing.T) {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				},
			},
		}
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sc, err := c.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sc.Spec.Replicas = 4
		if sc, err = c.AppsV1().Deployments(ns).UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil || sc.Spec.Replicas != 4 {
			t.Fatalf("update scale: %v", err)
		}
	})
}
