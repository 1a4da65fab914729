package volume_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/agent/volume"
	"berth/internal/testserver"
)

// TestConfigMapPropagatesFromAPIServer runs the manager against a real API
// server: a ConfigMap changed through the API reaches the volume within
// the period berth promises (10 s) through the watch alone (the resync is
// set to an hour), a Secret too, and a deleted ConfigMap leaves the last
// contents in place.
func TestConfigMapPropagatesFromAPIServer(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx := context.Background()
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "default"},
		Data:       map[string]string{"greeting": "hello", "color": "blue"},
	}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := volume.New(volume.Config{Root: t.TempDir(), Client: client, ResyncPeriod: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "5f2a3c4e-0000-4000-8000-000000000001"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
				{Name: "missing", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "not-yet"}}}},
			},
		},
	}
	defer m.Teardown(ctx, pod.UID)
	_, err = m.Setup(ctx, pod)
	if err == nil || err.Error() != `MountVolume.SetUp failed for volume "missing" : configmap "not-yet" not found` {
		t.Fatalf("Setup error %v, want the kubelet's message for the missing configmap", err)
	}
	late := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "not-yet", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, late, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var paths map[string]string
	waitFor(t, 10*time.Second, "Setup to succeed once the configmap exists", func() bool {
		paths, err = m.Setup(ctx, pod)
		return err == nil
	})
	dir := paths["config"]
	if got := read(t, filepath.Join(dir, "greeting")); got != "hello" {
		t.Fatalf("greeting = %q", got)
	}

	cm.Data["greeting"] = "bonjour"
	delete(cm.Data, "color")
	start := time.Now()
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the update to reach the volume", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "greeting"))
		return err == nil && string(b) == "bonjour"
	})
	t.Logf("configmap update visible in the volume after %v", time.Since(start))
	if _, err := os.Lstat(filepath.Join(dir, "color")); !os.IsNotExist(err) {
		t.Errorf("removed key still visible: %v", err)
	}

	// Deleted: the volume keeps what it had (as the kubelet's does).
	if err := client.CoreV1().ConfigMaps("default").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Setup to report the deleted configmap", func() bool {
		_, err := m.Setup(ctx, pod)
		return err != nil && strings.Contains(err.Error(), `configmap "app-config" not found`)
	})
	if got := read(t, filepath.Join(dir, "greeting")); got != "bonjour" {
		t.Errorf("greeting = %q after the configmap was deleted", got)
	}
	if _, err := client.CoreV1().ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap still there: %v", err)
	}

	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("volume left after Teardown: %v", err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
