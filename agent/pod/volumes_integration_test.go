package pod_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/agent/pod"
	"berth/agent/volume"
)

// With the agent's real volumes: configMap, emptyDir and downwardAPI
// volumes are mounted, and nothing is left mounted once the pod is gone.
func TestRealVolumes(t *testing.T) {
	t.Parallel()
	var root string
	c := newCluster(t, func(cfg *pod.Config) {
		root = cfg.PodDir
		vm, err := volume.New(volume.Config{Root: cfg.PodDir, Client: cfg.Client, NodeName: cfg.NodeName, Logger: cfg.Logger})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = vm.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		cfg.Volumes = vm
	})
	ctx := context.Background()
	if _, err := c.client.CoreV1().ConfigMaps(c.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"greeting": "hello"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := busybox("vols", "cat /conf/greeting; echo; cat /info/labels; echo; echo data > /scratch/f && cat /scratch/f; exec sleep 3600")
	p.Labels = map[string]string{"app": "vols"}
	p.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
	}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "conf", MountPath: "/conf", ReadOnly: true}, {Name: "scratch", MountPath: "/scratch"}, {Name: "info", MountPath: "/info"},
	}
	p = c.create(p)
	p = c.waitFor("vols", 30*time.Second, "running", running)
	want := "hello\napp=\"vols\"\ndata\n"
	deadline := time.Now().Add(10 * time.Second)
	for got := c.logs(p, "c", 0); got != want; got = c.logs(p, "c", 0) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	vm := p.Status.ContainerStatuses[0].VolumeMounts
	if len(vm) != 3 || vm[0].Name != "conf" || !vm[0].ReadOnly || vm[0].RecursiveReadOnly == nil || *vm[0].RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled {
		t.Errorf("volumeMounts in the status: %+v", vm)
	}
	if err := c.client.CoreV1().Pods(c.ns).Delete(ctx, "vols", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitGone("vols", 30*time.Second)
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), filepath.Join(root, string(p.UID))) {
		t.Error("volumes still mounted after the pod is gone")
	}
	if _, err := os.Stat(filepath.Join(root, string(p.UID))); !os.IsNotExist(err) {
		t.Errorf("pod directory left: %v", err)
	}
}
