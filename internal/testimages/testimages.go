// Package testimages serves berth's built-in images (pause, busybox,
// demo v1 and v2) from an in-memory OCI registry on 127.0.0.1 for tests
// that run real containers. containerd pulls from 127.0.0.1 over plain
// HTTP.
package testimages

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"berth/images"
	"berth/internal/testbin"
)

// Registry is a registry holding the built-in images.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	srv  *httptest.Server
}

// Start runs a registry for the test with the built-in images pushed under
// their usual names (berth/pause:3.10, busybox:latest, berth/demo:v1, :v2).
func Start(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(nilLogger())))
	t.Cleanup(srv.Close)
	r := &Registry{Host: srv.Listener.Addr().String(), srv: srv}
	pause, demo := Programs(t)
	for ref, build := range map[string]func() (v1.Image, error){
		images.Pause:   func() (v1.Image, error) { return images.PauseImage(pause) },
		images.DemoV1:  func() (v1.Image, error) { return images.DemoImage(demo, "v1") },
		images.DemoV2:  func() (v1.Image, error) { return images.DemoImage(demo, "v2") },
		images.Busybox: func() (v1.Image, error) { return images.BusyboxImage("/usr/bin/busybox", pause) },
	} {
		img, err := build()
		if err != nil {
			t.Fatalf("build %s: %v", ref, err)
		}
		r.Push(t, ref, img)
	}
	return r
}

// Ref is the reference of an image in this registry: its repository path
// as a mirror serves it (Docker Hub names normalized: "busybox" is
// "library/busybox"), e.g. "127.0.0.1:5000/library/busybox:latest".
func (r *Registry) Ref(image string) string {
	ref, err := name.ParseReference(image)
	if err != nil {
		return r.Host + "/" + image
	}
	return r.Host + "/" + ref.Context().RepositoryStr() + refSuffix(ref)
}

func refSuffix(ref name.Reference) string {
	if d, ok := ref.(name.Digest); ok {
		return "@" + d.DigestStr()
	}
	return ":" + ref.Identifier()
}

// Push stores an image under image (a name as pod specs write it, such as
// "berth/demo:v1" or "busybox").
func (r *Registry) Push(t testing.TB, image string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(image), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", image, err)
	}
}

var (
	buildOnce         sync.Once
	pauseBin, demoBin []byte
	buildErr          error
)

// Programs returns the pause and demo programs: the ones embedded in this
// build, or, in tests of a plain `go build`, built once per test process.
func Programs(t testing.TB) (pause, demo []byte) {
	t.Helper()
	if p, d, err := images.Embedded(); err == nil {
		return p, d
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-images-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		root, err := testbin.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		for _, p := range []string{"pause", "demo"} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, p), "./images/"+p)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", p, err, out)
				return
			}
		}
		pauseBin, buildErr = os.ReadFile(filepath.Join(dir, "pause"))
		if buildErr == nil {
			demoBin, buildErr = os.ReadFile(filepath.Join(dir, "demo"))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return pauseBin, demoBin
}

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }
