package integration

import (
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/internal/testserver"
	"berth/server"
)

func jsonClient(t *testing.T, s *testserver.Server) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(s.Rest)
	cfg.ContentType = "application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRestart stops the control plane and starts another on the same data:
// everything stored is still there and resourceVersions keep growing.
func TestRestart(t *testing.T) {
	t.Parallel()
	cfg := server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", AdvertiseAddress: "127.0.0.1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	// No controllers: the root-CA publisher would add its ConfigMap to the
	// namespace whose contents this test counts.
	testserver.Bare(&cfg)
	first, err := testserver.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			first.Stop()
		}
	})
	c := jsonClient(t, first)
	ctx := ctxFor(t)

	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, err := c.CoreV1().ConfigMaps("keep").Create(ctx, configMap("cm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.AppsV1().Deployments("keep").Create(ctx, deployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.CoreV1().Services("keep").Create(ctx, service("web", "", corev1.ServiceTypeNodePort, 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held := configMap("held", nil)
	held.Finalizers = []string{"example.com/hold"}
	if _, err := c.CoreV1().ConfigMaps("keep").Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps("keep").Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := c.CoreV1().ConfigMaps("keep").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lastRV := rvInt(t, before.ResourceVersion)

	if err := first.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true

	second, err := testserver.Run(cfg)
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	t.Cleanup(func() {
		if err := second.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	c = jsonClient(t, second)

	gotCM, err := c.CoreV1().ConfigMaps("keep").Get(ctx, "cm", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap after restart: %v", err)
	}
	if gotCM.UID != cm.UID || gotCM.ResourceVersion != cm.ResourceVersion || gotCM.Data["k"] != "v" {
		t.Errorf("configmap changed across restart: %+v", gotCM)
	}
	gotDep, err := c.AppsV1().Deployments("keep").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment after restart: %v", err)
	}
	if gotDep.UID != dep.UID || *gotDep.Spec.Replicas != 2 || gotDep.Generation != dep.Generation {
		t.Errorf("deployment changed across restart: %+v", gotDep.ObjectMeta)
	}
	gotSvc, err := c.CoreV1().Services("keep").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service after restart: %v", err)
	}
	if gotSvc.Spec.ClusterIP != svc.Spec.ClusterIP || gotSvc.Spec.Ports[0].NodePort != svc.Spec.Ports[0].NodePort {
		t.Errorf("service allocation changed across restart: %s/%d → %s/%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort, gotSvc.Spec.ClusterIP, gotSvc.Spec.Ports[0].NodePort)
	}
	if _, err := c.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("node after restart: %v", err)
	}
	gotHeld, err := c.CoreV1().ConfigMaps("keep").Get(ctx, "held", metav1.GetOptions{})
	if err != nil || gotHeld.DeletionTimestamp == nil {
		t.Errorf("held configmap after restart: %v (deleting=%v)", err, err == nil && gotHeld.DeletionTimestamp != nil)
	}
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "keep"} {
		if _, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s after restart: %v", name, err)
		}
	}
	// Allocations survive: the address and port are still taken.
	_, err = c.CoreV1().Services("keep").Create(ctx, service("copy", svc.Spec.ClusterIP, "", 0), metav1.CreateOptions{})
	expectError(t, err, 422, metav1.StatusReasonInvalid, "")
	_, err = c.CoreV1().Services("keep").Create(ctx, service("copy", "", corev1.ServiceTypeNodePort, svc.Spec.Ports[0].NodePort), metav1.CreateOptions{})
	expectError(t, err, 422, metav1.StatusReasonInvalid, "")

	// New writes get newer resourceVersions than anything before.
	after, err := c.CoreV1().ConfigMaps("keep").Create(ctx, configMap("new", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv := rvInt(t, after.ResourceVersion); rv <= lastRV {
		t.Errorf("resourceVersion %d after restart is not after %d", rv, lastRV)
	}
	gotCM.Data["k"] = "updated"
	upd, err := c.CoreV1().ConfigMaps("keep").Update(ctx, gotCM, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update with the pre-restart resourceVersion: %v", err)
	}
	if rvInt(t, upd.ResourceVersion) <= rvInt(t, after.ResourceVersion) {
		t.Errorf("update rv %s not after %s", upd.ResourceVersion, after.ResourceVersion)
	}
	list, err := c.CoreV1().ConfigMaps("keep").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(list); len(got) != 3 {
		t.Errorf("configmaps after restart %v, want cm, held, new", got)
	}
	// A watch from a resourceVersion after the restart works.
	w, err := c.CoreV1().ConfigMaps("keep").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := c.CoreV1().ConfigMaps("keep").Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Type != "DELETED" {
		t.Errorf("watch after restart: %s", ev.Type)
	}
}
