package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRunPropagates: with Run, a changed ConfigMap or Secret reaches the
// volumes of every pod using it without another Setup, a token is renewed
// by the resync, and objects of torn-down pods are no longer watched.
func TestRunPropagates(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t, testConfigMap.DeepCopy(), testSecret.DeepCopy())
	env.m.cfg.ResyncPeriod = 200 * time.Millisecond
	ctx := context.Background()
	runManager(t, env.m)

	pod := testPod("uid-run-1", cmVolume("cm", "cfg", nil), secretVolume("sec", "creds", nil), kubeAPIAccess())
	other := testPod("uid-run-2", cmVolume("cm", "cfg", func(s *corev1.ConfigMapVolumeSource) {
		s.Items = []corev1.KeyToPath{{Key: "level", Path: "lvl"}}
	}))
	defer env.m.Teardown(ctx, pod.UID)
	defer env.m.Teardown(ctx, other.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	otherPaths, err := env.m.Setup(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	env.waitWatches(t, 2) // cfg and creds

	cm := testConfigMap.DeepCopy()
	cm.Data["level"] = "trace"
	if _, err := env.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := testSecret.DeepCopy()
	sec.Data["pass"] = []byte("rotated")
	if _, err := env.client.CoreV1().Secrets("default").Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fileIs := func(path, want string) func() bool {
		return func() bool { b, err := os.ReadFile(path); return err == nil && string(b) == want }
	}
	eventually(t, 5*time.Second, "configmap update in pod 1", fileIs(filepath.Join(paths["cm"], "level"), "trace"))
	eventually(t, 5*time.Second, "configmap update in pod 2", fileIs(filepath.Join(otherPaths["cm"], "lvl"), "trace"))
	eventually(t, 5*time.Second, "secret update", fileIs(filepath.Join(paths["sec"], "pass"), "rotated"))

	// A projected source created after the pod started appears too.
	cm2 := testConfigMap.DeepCopy()
	cm2.Data = map[string]string{"app.conf": "new ca"}
	if _, err := env.client.CoreV1().ConfigMaps("default").Update(ctx, cm2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "projected configmap update", fileIs(filepath.Join(paths["kube-api-access-abcde"], "ca.crt"), "new ca"))

	// The resync renews the token when due.
	env.clock.Step(50 * time.Minute)
	eventually(t, 5*time.Second, "token renewal", fileIs(filepath.Join(paths["kube-api-access-abcde"], "token"), "token-2"))

	// Torn down: its objects stop being watched once no pod uses them.
	if err := env.m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	env.m.mu.Lock()
	_, cfgWatched := env.m.watches[objectKey{kind: kindConfigMap, namespace: "default", name: "cfg"}]
	_, secWatched := env.m.watches[objectKey{kind: kindSecret, namespace: "default", name: "creds"}]
	env.m.mu.Unlock()
	if !cfgWatched || secWatched {
		t.Errorf("after teardown: configmap watched %v (want true, pod 2 uses it), secret watched %v (want false)", cfgWatched, secWatched)
	}
	if _, err := os.Stat(paths["cm"]); !os.IsNotExist(err) {
		t.Errorf("volume of torn down pod still there: %v", err)
	}
}

// TestRunMissingThenCreated: a pod whose ConfigMap does not exist yet
// gets its volume once the ConfigMap is created, so that the pod
// manager's next Setup succeeds.
func TestRunMissingThenCreated(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	runManager(t, env.m)
	pod := testPod("uid-late", cmVolume("cm", "late", nil))
	defer env.m.Teardown(ctx, pod.UID)
	if _, err := env.m.Setup(ctx, pod); err == nil {
		t.Fatal("Setup with a missing configmap succeeded")
	}
	env.waitWatches(t, 1)
	late := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := env.client.CoreV1().ConfigMaps("default").Create(ctx, late, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := env.m.volumeDir(pod.UID, pluginConfigMap, "cm")
	eventually(t, 5*time.Second, "volume of the created configmap", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "k"))
		return err == nil && string(b) == "v"
	})
	paths, err := env.m.Setup(ctx, pod)
	if err != nil || paths["cm"] != dir {
		t.Fatalf("Setup = %v, %v", paths, err)
	}
}

func TestRunTwice(t *testing.T) {
	env := newTestEnv(t)
	runManager(t, env.m)
	eventually(t, 5*time.Second, "Run to start", func() bool {
		env.m.mu.Lock()
		defer env.m.mu.Unlock()
		return env.m.runCtx != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := env.m.Run(ctx); err == nil {
		t.Error("second Run accepted")
	}
}
