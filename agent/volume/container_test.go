package volume_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/volume"
	"berth/internal/testnode"
)

// TestContainerSeesVolumes bind-mounts volumes into a real container, as
// the pod manager does: a non-root user in the pod's fsGroup reads the
// 0640 token on the tmpfs, and a ConfigMap update (the atomic ..data swap)
// is what the running container reads next.
func TestContainerSeesVolumes(t *testing.T) {
	n := testnode.Start(t)
	ctx := context.Background()

	client := fake.NewSimpleClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data:       map[string]string{"greeting": "hello"},
	})
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = "secret-token"
		tr.Status.ExpirationTimestamp = metav1.NewTime(time.Now().Add(time.Hour))
		return true, tr, nil
	})
	m, err := volume.New(volume.Config{Root: t.TempDir(), Client: client, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: "default", UID: "c0ffee00-0000-4000-8000-000000000001"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))},
			Containers:      []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					// 0600: only the fsGroup (0640, group 2000) lets uid 1000 read it.
					DefaultMode: ptr(int32(0o600)),
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Path: "token", ExpirationSeconds: ptr(int64(3600))}}},
				}}},
			},
		},
	}
	paths, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}

	img, err := n.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox:latest"}})
	if err != nil {
		t.Fatal(err)
	}
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID)},
		LogDirectory: n.Dir + "/logs",
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb, err := n.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		n.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId})
		n.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId})
		if err := m.Teardown(ctx, pod.UID); err != nil {
			t.Errorf("Teardown: %v", err)
		}
	}()
	c, err := n.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  sb.PodSandboxId,
		SandboxConfig: sbCfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image:    &runtimeapi.ImageSpec{Image: img.ImageRef},
			Command:  []string{"sleep", "3600"},
			LogPath:  "c/0.log",
			Mounts: []*runtimeapi.Mount{
				{ContainerPath: "/etc/config", HostPath: paths["config"], Readonly: true},
				{ContainerPath: "/var/run/secrets/tokens", HostPath: paths["token"], Readonly: true},
			},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser:          &runtimeapi.Int64Value{Value: 1000},
				SupplementalGroups: []int64{2000},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	exec := func(cmd ...string) (string, int32) {
		t.Helper()
		r, err := n.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: cmd, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Stdout) + string(r.Stderr), r.ExitCode
	}

	if out, code := exec("cat", "/etc/config/greeting"); code != 0 || out != "hello" {
		t.Fatalf("cat greeting = %q (exit %d)", out, code)
	}
	if out, code := exec("cat", "/var/run/secrets/tokens/token"); code != 0 || out != "secret-token" {
		t.Fatalf("uid 1000 in fsGroup reading the token: %q (exit %d)", out, code)
	}
	if out, code := exec("sh", "-c", "echo x > /etc/config/new"); code == 0 {
		t.Errorf("wrote into a read-only configMap volume: %q", out)
	}

	cm, _ := client.CoreV1().ConfigMaps("default").Get(ctx, "cfg", metav1.GetOptions{})
	cm.Data = map[string]string{"greeting": "updated", "added": "yes"}
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if out, code := exec("sh", "-c", "cat /etc/config/greeting /etc/config/added"); code != 0 || out != "updatedyes" {
		t.Errorf("after the update the container reads %q (exit %d)", out, code)
	}
	if out, _ := exec("ls", "-a", "/etc/config"); !strings.Contains(out, "..data") {
		t.Errorf("no ..data in the container's view: %q", out)
	}
}

func ptr[T any](v T) *T { return &v }
