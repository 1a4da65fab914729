package registry_test

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/image"
	"berth/image/imagetest"
	"berth/images"
	"berth/internal/testimages"
	"berth/internal/testnode"
	"berth/registry"
)

// TestContainerdPullsFromRegistry is a conformance test with the real
// client: containerd, mirroring every registry name to this registry as
// the agents do, pulls by tag and by digest, unpacks the layers and runs
// a pod from them (its sandbox image included); a `docker save` tarball
// pushed to the registry is pulled with the digest the push reported.
func TestContainerdPullsFromRegistry(t *testing.T) {
	n := testnode.Start(t)
	// The registry as the API server serves it: HTTPS, anonymous reads,
	// writes with a client certificate.
	s := imagetest.Start(t)
	reg := s.Registry
	// The demo images are only pulled here, not run: a small stand-in for
	// the demo program keeps the test fast.
	pause, _ := testimages.Programs(t)
	if err := registry.EnsureBuiltins(reg, pause, []byte("demo program"), "/usr/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	if err := n.Containerd.MirrorAll(s.URL, s.CAFile); err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	list, err := reg.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range list {
		digests[img.Name()] = img.Digest
	}

	// A `docker save` tarball, pushed as `berth image push` does.
	app, err := images.Build(nil, []images.File{{Path: "/hello.txt", Mode: 0o644, Data: []byte("hello from a tarball\n")}}, images.Config{Entrypoint: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "app.tar")
	tag, _ := name.NewTag("example.com/team/app:v1")
	if err := tarball.WriteToFile(tarPath, tag, app); err != nil {
		t.Fatal(err)
	}
	archive, err := image.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	loaded := archive.Images[0].Image
	pushed, err := image.Push(context.Background(), s.Rest, "team/app:v1", loaded)
	if err != nil {
		t.Fatalf("push tarball: %v", err)
	}
	if want, _ := loaded.Digest(); pushed != want {
		t.Fatalf("pushed %s, the tarball's image is %s", pushed, want)
	}
	appConfig, _ := loaded.ConfigName()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct{ image, digest, repoDigest string }{
		{"busybox", digests["busybox:latest"], "docker.io/library/busybox@" + digests["busybox:latest"]},
		{"berth/demo@" + digests["berth/demo:v2"], digests["berth/demo:v2"], "docker.io/berth/demo@" + digests["berth/demo:v2"]},
		{"example.com/team/app:v1", pushed.String(), "example.com/team/app@" + pushed.String()},
		{"quay.io/team/app@" + pushed.String(), pushed.String(), "quay.io/team/app@" + pushed.String()},
	} {
		resp, err := n.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: tc.image}})
		if err != nil {
			t.Fatalf("pull %s: %v", tc.image, err)
		}
		st, err := n.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: resp.ImageRef}})
		if err != nil || st.Image == nil {
			t.Fatalf("status of %s: %v", tc.image, err)
		}
		if !slices.Contains(st.Image.RepoDigests, tc.repoDigest) {
			t.Errorf("%s: repo digests %v, want %s", tc.image, st.Image.RepoDigests, tc.repoDigest)
		}
	}
	// A name nobody pushed: the pull fails. (containerd then also tries
	// the hosts.toml server, without the CA MirrorAll gives only to the
	// mirror host, so its message is about the certificate, not "not
	// found".)
	if _, err := n.Images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "nosuch:v1"}}); err == nil || !strings.Contains(err.Error(), "library/nosuch") {
		t.Errorf("pull of a missing image: %v", err)
	}
	st, _ := n.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "example.com/team/app:v1"}})
	if st.Image.Id != appConfig.String() {
		t.Errorf("tarball image id %s, want its config digest %s", st.Image.Id, appConfig)
	}

	// A pod from the pulled layers: berth/pause as its sandbox, a busybox
	// container.
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "reg", Namespace: "default", Uid: "reg-1"},
		LogDirectory: filepath.Join(n.Dir, "logs"),
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb, err := n.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatalf("sandbox from berth/pause of the registry: %v", err)
	}
	c, err := n.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sb.PodSandboxId,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "bb"},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  []string{"sleep", "3600"},
			LogPath:  "bb/0.log",
		},
		SandboxConfig: sbCfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	out, err := n.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"sh", "-c", "wc -l < /etc/passwd; ls /bin | grep -c ."}, Timeout: 10})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("exec: %v %+v", err, out)
	}
	f := append(strings.Fields(string(out.Stdout)), "", "")
	if applets, _ := strconv.Atoi(f[1]); f[0] != "2" || applets < 100 {
		t.Errorf("busybox image content: %q (want 2 users and over 100 applets)", out.Stdout)
	}
}
