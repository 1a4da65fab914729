package volume

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestValidatePayloadPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"..a", false}, // reserved for the writer
		{"..", false},
		{"a/../b", false},
		{"/abs", false},
		{"", false},
		{"a..b", true},
		{strings.Repeat("x", 256), false},
		{strings.Repeat("x", 255), true},
	} {
		err := validatePayloadPath(tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("validatePayloadPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestWriteAtomic(t *testing.T) {
	old := syscall.Umask(0o077) // modes must not depend on the umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	written, err := writeAtomic(dir, map[string]file{
		"a":          {data: []byte("one"), mode: 0o644},
		"sub/b":      {data: []byte("two"), mode: 0o400},
		"sub/deep/c": {data: []byte("three"), mode: 0o755},
	}, now, nil)
	if err != nil || !written {
		t.Fatalf("first write: written=%v err=%v", written, err)
	}
	ts := dataDir(t, dir)
	if !strings.HasPrefix(ts, "..2025_01_02_03_04_05.") {
		t.Errorf("data dir %q is not timestamped", ts)
	}
	if got := fileMode(t, filepath.Join(dir, ts)).Perm(); got != 0o755 {
		t.Errorf("data dir mode %v, want 0755", got)
	}
	for path, want := range map[string]string{"a": "one", "sub/b": "two", "sub/deep/c": "three"} {
		if got := readFile(t, filepath.Join(dir, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]os.FileMode{"a": 0o644, "sub/b": 0o400, "sub/deep/c": 0o755, "sub": 0o755 | os.ModeDir} {
		if got := fileMode(t, filepath.Join(dir, path)); got != want {
			t.Errorf("mode of %s = %v, want %v", path, got, want)
		}
	}
	for _, name := range []string{"a", "sub"} {
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || target != filepath.Join(dataDirName, name) {
			t.Errorf("%s links to %q (%v), want ..data/%s", name, target, err, name)
		}
	}
	if got := listVisible(t, dir); !slices.Equal(got, []string{"a", "sub"}) {
		t.Errorf("visible entries %v", got)
	}

	// Same data: nothing written, same data dir.
	written, err = writeAtomic(dir, map[string]file{
		"a":          {data: []byte("one"), mode: 0o644},
		"sub/b":      {data: []byte("two"), mode: 0o400},
		"sub/deep/c": {data: []byte("three"), mode: 0o755},
	}, now.Add(time.Minute), nil)
	if err != nil || written {
		t.Fatalf("unchanged write: written=%v err=%v", written, err)
	}
	if got := dataDir(t, dir); got != ts {
		t.Errorf("data dir changed from %s to %s without new data", ts, got)
	}

	// A missing visible link is recreated even without new data.
	os.Remove(filepath.Join(dir, "a"))
	if _, err := writeAtomic(dir, map[string]file{
		"a":          {data: []byte("one"), mode: 0o644},
		"sub/b":      {data: []byte("two"), mode: 0o400},
		"sub/deep/c": {data: []byte("three"), mode: 0o755},
	}, now.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "one" {
		t.Errorf("recreated a = %q", got)
	}

	// New data, one file dropped, a nested file dropped: new data dir,
	// old one removed, dropped top-level link removed.
	written, err = writeAtomic(dir, map[string]file{
		"a":     {data: []byte("ONE"), mode: 0o644},
		"sub/b": {data: []byte("two"), mode: 0o400},
		"new":   {data: []byte("fresh"), mode: 0o600},
	}, now.Add(2*time.Minute), nil)
	if err != nil || !written {
		t.Fatalf("update: written=%v err=%v", written, err)
	}
	ts2 := dataDir(t, dir)
	if ts2 == ts {
		t.Fatal("data dir not swapped on update")
	}
	if _, err := os.Stat(filepath.Join(dir, ts)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old data dir still there: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "ONE" {
		t.Errorf("a = %q after update", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub/deep/c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sub/deep/c still visible: %v", err)
	}
	if got := listVisible(t, dir); !slices.Equal(got, []string{"a", "new", "sub"}) {
		t.Errorf("visible entries after update %v", got)
	}

	// Removing a whole top-level entry removes its link.
	if _, err := writeAtomic(dir, map[string]file{"a": {data: []byte("ONE"), mode: 0o644}}, now.Add(3*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if got := listVisible(t, dir); !slices.Equal(got, []string{"a"}) {
		t.Errorf("visible entries after removals %v", got)
	}
	entries, _ := os.ReadDir(dir)
	var hidden []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			hidden = append(hidden, e.Name())
		}
	}
	if len(hidden) != 2 { // ..data and one timestamped dir
		t.Errorf("hidden entries %v, want ..data and one data dir", hidden)
	}

	if _, err := writeAtomic(dir, map[string]file{"../escape": {data: []byte("x"), mode: 0o644}}, now, nil); err == nil {
		t.Error("payload path with .. accepted")
	}
}

func TestWriteAtomicRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, err := writeAtomic(dir, map[string]file{"a": {data: []byte("1"), mode: 0o644}}, now, nil); err != nil {
		t.Fatal(err)
	}
	// An interrupted write left a data dir and a ..data_tmp link.
	if err := os.Mkdir(filepath.Join(dir, "..2020_01_01_00_00_00.123"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2020_01_01_00_00_00.123", filepath.Join(dir, newDataDirName)); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, map[string]file{"a": {data: []byte("2"), mode: 0o644}}, now, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "..2020_01_01_00_00_00.123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover data dir kept: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "2" {
		t.Errorf("a = %q", got)
	}
}

// TestWriteAtomicNoTearing writes versions of two related files while
// readers read them: a reader that resolves ..data once must always see
// both files of one version, complete.
func TestWriteAtomicNoTearing(t *testing.T) {
	dir := t.TempDir()
	payload := func(v int) map[string]file {
		body := bytes.Repeat([]byte(strconv.Itoa(v)+"|"), 4096)
		return map[string]file{
			"a":       {data: body, mode: 0o644},
			"conf/b":  {data: body, mode: 0o644},
			"version": {data: []byte(strconv.Itoa(v)), mode: 0o644},
		}
	}
	if _, err := writeAtomic(dir, payload(0), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	reads := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ts, err := os.Readlink(filepath.Join(dir, dataDirName))
				if err != nil {
					mu.Lock()
					problems = append(problems, "..data missing: "+err.Error())
					mu.Unlock()
					continue
				}
				a, errA := os.ReadFile(filepath.Join(dir, ts, "a"))
				b, errB := os.ReadFile(filepath.Join(dir, ts, "conf/b"))
				v, errV := os.ReadFile(filepath.Join(dir, ts, "version"))
				if errA != nil || errB != nil || errV != nil {
					continue // that version was replaced and removed meanwhile
				}
				want := bytes.Repeat([]byte(string(v)+"|"), 4096)
				mu.Lock()
				reads++
				if !bytes.Equal(a, want) || !bytes.Equal(b, want) {
					problems = append(problems, "torn read of version "+string(v))
				}
				mu.Unlock()
				// The user-visible path always resolves to a whole file.
				if vis, err := os.ReadFile(filepath.Join(dir, "a")); err == nil && !wholeVersion(vis) {
					mu.Lock()
					problems = append(problems, "partial visible file")
					mu.Unlock()
				}
			}
		}()
	}
	for v := 1; v <= 200; v++ {
		if _, err := writeAtomic(dir, payload(v), time.Now(), nil); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), problems[0])
	}
	if reads == 0 {
		t.Fatal("readers never read a complete version")
	}
	if got := readFile(t, filepath.Join(dir, "version")); got != "200" {
		t.Errorf("final version %q", got)
	}
}

// wholeVersion reports whether b is one complete "N|" × 4096 body.
func wholeVersion(b []byte) bool {
	i := bytes.IndexByte(b, '|')
	return i > 0 && bytes.Equal(b, bytes.Repeat(b[:i+1], 4096))
}
