package registry_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"berth/images"
	"berth/internal/testimages"
	"berth/registry"
)

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

func TestEnsureBuiltins(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	reg, err := registry.New(registry.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// Small stand-ins for the programs keep the test fast (compressing
	// the real ones takes seconds under the race detector).
	pause, demo := []byte("pause program"), []byte("demo program")
	busybox := fakeBusybox(t)
	if err := registry.EnsureBuiltins(reg, pause, demo, busybox); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.take(), "built-in image stored"); got != 4 {
		t.Errorf("%d images stored, want 4", got)
	}
	list, err := reg.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range list {
		names = append(names, i.Name())
	}
	if strings.Join(names, " ") != "berth/demo:v1 berth/demo:v2 berth/pause:3.10 busybox:latest" {
		t.Errorf("images %v", names)
	}
	// Again, as a restart does: nothing to store. After a restart of the
	// registry too.
	reg, err = registry.New(registry.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.EnsureBuiltins(reg, pause, demo, busybox); err != nil {
		t.Fatal(err)
	}
	if l := logs.take(); strings.Contains(l, "stored") {
		t.Errorf("stored again:\n%s", l)
	}
	// Without the memo of what was built, the images are built and
	// compared by digest: still nothing to store.
	if err := os.Remove(filepath.Join(dir, "builtins.json")); err != nil {
		t.Fatal(err)
	}
	if err := registry.EnsureBuiltins(reg, pause, demo, busybox); err != nil {
		t.Fatal(err)
	}
	if l := logs.take(); strings.Contains(l, "stored") {
		t.Errorf("stored again without the memo:\n%s", l)
	}
	// A tag deleted through the API comes back.
	srv := httptest.NewServer(reg)
	defer srv.Close()
	req, _ := http.NewRequest("DELETE", srv.URL+"/v2/berth/pause/manifests/3.10", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %v %v", err, resp)
	}
	if err := registry.EnsureBuiltins(reg, pause, demo, busybox); err != nil {
		t.Fatal(err)
	}
	if l := logs.take(); strings.Count(l, "built-in image stored") != 1 || !strings.Contains(l, images.Pause) {
		t.Errorf("after deleting the pause tag:\n%s", l)
	}
	// A new demo program replaces both demo images, only them.
	if err := registry.EnsureBuiltins(reg, pause, append(bytes.Clone(demo), 0), ""); err != nil {
		t.Fatal(err)
	}
	l := logs.take()
	if strings.Count(l, "built-in image stored") != 2 || !strings.Contains(l, images.DemoV1) || !strings.Contains(l, images.DemoV2) {
		t.Errorf("after a new demo program:\n%s", l)
	}
	after, _ := reg.List()
	if len(after) != 4 || after[0].Digest == list[0].Digest || after[2].Digest != list[2].Digest {
		t.Errorf("images before %v, after %v", list, after)
	}
}

// fakeBusybox is a script answering `busybox --list` as busybox does.
func fakeBusybox(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho sh; echo ls; echo busybox\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func BenchmarkEnsureBuiltins(b *testing.B) {
	pause, demo := testimages.Programs(b)
	for _, fresh := range []bool{true, false} {
		name := map[bool]string{true: "empty", false: "present"}[fresh]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			reg, err := registry.New(registry.Config{Dir: dir})
			if err != nil {
				b.Fatal(err)
			}
			if !fresh {
				registry.EnsureBuiltins(reg, pause, demo, "/usr/bin/busybox")
			}
			for b.Loop() {
				if fresh {
					b.StopTimer()
					d := b.TempDir()
					reg, _ = registry.New(registry.Config{Dir: d})
					b.StartTimer()
				}
				if err := registry.EnsureBuiltins(reg, pause, demo, "/usr/bin/busybox"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
