package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

var dryRun = []string{metav1.DryRunAll}

// TestDryRun checks that dry-run writes answer as the real ones would and
// store nothing.
func TestDryRun(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	cms := s.Client.CoreV1().ConfigMaps(ns)

	t.Run("Create", func(t *testing.T) {
		out, err := cms.Create(ctx, configMap("dry", nil), metav1.CreateOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		if out.Name != "dry" || out.Namespace != ns || out.UID == "" || out.CreationTimestamp.IsZero() {
			t.Errorf("dry-run create answered %+v", out.ObjectMeta)
		}
		if out.ResourceVersion != "" {
			t.Errorf("dry-run create answered resourceVersion %q; nothing was stored", out.ResourceVersion)
		}
		_, err = cms.Get(ctx, "dry", metav1.GetOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, `configmaps "dry" not found`)
		// Validation still applies.
		_, err = cms.Create(ctx, configMap("Bad_Name", nil), metav1.CreateOptions{DryRun: dryRun})
		expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		// Only "All" is a dry-run value: the options are invalid (422).
		_, err = cms.Create(ctx, configMap("dry", nil), metav1.CreateOptions{DryRun: []string{"Some"}})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		expectCause(t, st, metav1.CauseTypeFieldValueNotSupported, "dryRun", `supported values: "All"`)
	})

	cm, err := cms.Create(ctx, configMap("real", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("CreateExisting", func(t *testing.T) {
		_, err := cms.Create(ctx, configMap("real", nil), metav1.CreateOptions{DryRun: dryRun})
		expectError(t, err, 409, metav1.StatusReasonAlreadyExists, `configmaps "real" already exists`)
	})

	t.Run("Update", func(t *testing.T) {
		u := cm.DeepCopy()
		u.Data["k"] = "dry"
		out, err := cms.Update(ctx, u, metav1.UpdateOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		if out.Data["k"] != "dry" {
			t.Errorf("dry-run update answered data %v", out.Data)
		}
		expectUnchanged(t, s.Client.CoreV1().ConfigMaps(ns), cm)
		// A stale dry-run update conflicts as a real one would.
		stale := u.DeepCopy()
		stale.ResourceVersion = "1"
		_, err = cms.Update(ctx, stale, metav1.UpdateOptions{DryRun: dryRun})
		expectError(t, err, 409, metav1.StatusReasonConflict, "")
	})

	t.Run("Patch", func(t *testing.T) {
		out, err := cms.Patch(ctx, "real", types.MergePatchType, []byte(`{"data":{"k":"dry"}}`), metav1.PatchOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		if out.Data["k"] != "dry" {
			t.Errorf("dry-run patch answered data %v", out.Data)
		}
		expectUnchanged(t, s.Client.CoreV1().ConfigMaps(ns), cm)
	})

	t.Run("Delete", func(t *testing.T) {
		if err := cms.Delete(ctx, "real", metav1.DeleteOptions{DryRun: dryRun}); err != nil {
			t.Fatal(err)
		}
		expectUnchanged(t, s.Client.CoreV1().ConfigMaps(ns), cm)
		// Dry-run delete of an object with a finalizer sets nothing.
		fin := configMap("fin", nil)
		fin.Finalizers = []string{"example.com/hold"}
		if _, err := cms.Create(ctx, fin, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "fin", metav1.DeleteOptions{DryRun: dryRun}); err != nil {
			t.Fatal(err)
		}
		got, err := cms.Get(ctx, "fin", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.DeletionTimestamp != nil {
			t.Error("dry-run delete set deletionTimestamp")
		}
		// Dry-run deletecollection deletes nothing.
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{DryRun: dryRun}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if l, err := cms.List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 2 {
			t.Errorf("after dry-run deletecollection: %v, %d items", err, len(l.Items))
		}
		got.Finalizers = nil
		if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ServiceClusterIP", func(t *testing.T) {
		svcs := s.Client.CoreV1().Services(ns)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.7.7", Ports: []corev1.ServicePort{{Port: 80}}}}
		out, err := svcs.Create(ctx, svc, metav1.CreateOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		if out.Spec.ClusterIP != "10.43.7.7" {
			t.Errorf("dry-run create answered clusterIP %q", out.Spec.ClusterIP)
		}
		// The address is still free.
		real, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create with the address a dry run used: %v", err)
		}
		if real.Spec.ClusterIP != "10.43.7.7" {
			t.Errorf("clusterIP %q", real.Spec.ClusterIP)
		}
		// A dry-run create with an automatic address shows one but keeps
		// none: repeated dry runs do not exhaust anything, and a dry run
		// of a taken address fails as the real create would.
		auto := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "auto"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		out, err = svcs.Create(ctx, auto, metav1.CreateOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		expectClusterIP(t, out.Spec.ClusterIP)
		taken := svc.DeepCopy()
		taken.Name = "taken"
		_, err = svcs.Create(ctx, taken, metav1.CreateOptions{DryRun: dryRun})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, ipTakenMessage("taken", "10.43.7.7"))
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.clusterIPs", "provided IP is already allocated")
		// Dry-run delete keeps the address allocated.
		if err := svcs.Delete(ctx, "dry", metav1.DeleteOptions{DryRun: dryRun}); err != nil {
			t.Fatal(err)
		}
		_, err = svcs.Create(ctx, taken, metav1.CreateOptions{})
		expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		// A NodePort dry run keeps no port either.
		np := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30555}}}}
		if _, err := svcs.Create(ctx, np, metav1.CreateOptions{DryRun: dryRun}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcs.Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create with the node port a dry run used: %v", err)
		}
		// A dry-run update to NodePort keeps no port either.
		if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "auto-real"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, err = svcs.Patch(ctx, "auto-real", types.StrategicMergePatchType, []byte(`{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30666}]}}`), metav1.PatchOptions{DryRun: dryRun})
		if err != nil {
			t.Fatal(err)
		}
		if out.Spec.Type != corev1.ServiceTypeNodePort || out.Spec.Ports[0].NodePort != 30666 {
			t.Errorf("dry-run patch answered %+v", out.Spec)
		}
		if got, err := svcs.Get(ctx, "auto-real", metav1.GetOptions{}); err != nil || got.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("dry-run patch changed the service: %v", err)
		}
		np2 := np.DeepCopy()
		np2.Name, np2.Spec.Ports[0].NodePort = "np2", 30666
		if _, err := svcs.Create(ctx, np2, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create with the node port a dry-run update used: %v", err)
		}
	})
}

// expectUnchanged checks that the stored configmap is still cm.
func expectUnchanged(t *testing.T, cms typedcorev1.ConfigMapInterface, cm *corev1.ConfigMap) {
	t.Helper()
	got, err := cms.Get(ctxFor(t), cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after dry run: %v", err)
	}
	if got.ResourceVersion != cm.ResourceVersion || got.Data["k"] != cm.Data["k"] || got.DeletionTimestamp != nil {
		t.Errorf("dry run changed the stored object: rv %s→%s data %v", cm.ResourceVersion, got.ResourceVersion, got.Data)
	}
}
