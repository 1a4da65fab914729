// Package testbin builds the berth binary for the end-to-end suites
// (test/e2e, test/node, test/network): once per test process, from the
// current source, so that every run tests what is checked out.
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// build is the one build of a test process: a test binary is one process,
// and its tests share the binary.
var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Berth builds ./cmd/berth once per test process and returns its path. With
// withImages it first checks that ./hack/build.sh made the built-in image
// programs berth embeds (suites that run containers need them).
func Berth(t testing.TB, withImages bool) string {
	t.Helper()
	build.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			build.err = err
			return
		}
		build.dir, err = os.MkdirTemp("", "berth-test-bin-")
		if err != nil {
			build.err = err
			return
		}
		bin := filepath.Join(build.dir, "berth")
		cmd := exec.Command(goTool(), "build", "-o", bin, "./cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/berth: %v\n%s", err, out)
			return
		}
		build.bin = bin
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	if withImages {
		root, _ := ModuleRoot()
		for _, p := range []string{"pause", "demo"} {
			if _, err := os.Stat(filepath.Join(root, "images", "bin", p)); err != nil {
				t.Fatalf("the built-in image programs are missing (%v): run ./hack/build.sh first, it builds images/bin/{pause,demo} that berth embeds", err)
			}
		}
	}
	return build.bin
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// Kubectl is the kubectl to run: $KUBECTL, or kubectl on the PATH.
func Kubectl() string {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	return "kubectl"
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ModuleRoot is the directory of berth's go.mod, found by walking up from
// this source file.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testbin: cannot locate the module root")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("testbin: no go.mod above " + file)
		}
	}
}
