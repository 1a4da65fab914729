package containerd_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/containerd"
	"berth/images"
	"berth/internal/testimages"
)

// shortDir is a temporary directory with a short path: unix socket paths
// are limited to 107 bytes.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bctd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func cri(t *testing.T, endpoint string) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

func TestContainerdRunsPodsAndSurvives(t *testing.T) {
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skip("containerd is not installed (hack/deps.sh installs it)")
	}
	reg := testimages.Start(t)
	dir := shortDir(t)
	c, err := containerd.New(containerd.Config{Dir: dir, SandboxImage: images.Pause}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MirrorAll("http://"+reg.Host, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("containerd not ready")
	}
	rt, img := cri(t, c.Endpoint())

	// "busybox" and "berth/pause" resolve to the test registry through the
	// mirror, as every name resolves to the cluster registry.
	for _, ref := range []string{images.Busybox, images.Pause} {
		if _, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
	}
	meta := &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "default", Uid: "uid-1"}
	sandboxCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     meta,
		LogDirectory: filepath.Join(dir, "logs"),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxCfg})
	if err != nil {
		t.Fatalf("run sandbox: %v", err)
	}
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sb.PodSandboxId, SandboxConfig: sandboxCfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image:    &runtimeapi.ImageSpec{Image: images.Busybox},
			Args:     []string{"sh", "-c", "sleep 300"},
			LogPath:  "c.log",
		},
	})
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		t.Fatalf("start container: %v", err)
	}

	// containerd killed: the supervisor starts it again, and the container
	// kept running meanwhile (its shim outlives containerd).
	pid, err := os.ReadFile(filepath.Join(dir, "containerd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: created.ContainerId})
		if err == nil {
			if st.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				t.Fatalf("container %s after containerd restarted, want running", st.Status.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd not back within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "containerd.pid")); string(now) == string(pid) {
		t.Fatal("containerd was not restarted")
	}

	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}

	// A second supervisor on the same directory adopts the running
	// containerd instead of starting another.
	before, _ := os.ReadFile(filepath.Join(dir, "containerd.pid"))
	second, err := containerd.New(containerd.Config{Dir: dir, SandboxImage: images.Pause}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go second.Run(ctx2)
	select {
	case <-second.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("second supervisor not ready")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "containerd.pid")); string(after) != string(before) {
		t.Fatalf("second supervisor started another containerd (%s, was %s)", after, before)
	}
	cancel2()
}
