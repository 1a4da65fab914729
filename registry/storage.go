package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// store is the registry's directory (see the package documentation for
// its layout).
type store struct {
	dir string
	// repoLocks serialize changes of one repository's manifests and tags,
	// so that a tag is never written for a manifest being deleted.
	repoLocks keyedMutex
}

func (s *store) blobPath(hex string) string {
	return filepath.Join(s.dir, "blobs", "sha256", hex)
}

func (s *store) repoPath(name string) string {
	return filepath.Join(s.dir, "repositories", filepath.FromSlash(name))
}

func (s *store) manifestLink(name, hex string) string {
	return filepath.Join(s.repoPath(name), "_manifests", hex)
}

// blobLink marks a blob as part of a repository: only then is it served
// under the repository's name (as registries do; clients mount a blob
// from another repository instead of uploading it again).
func (s *store) blobLink(name, hex string) string {
	return filepath.Join(s.repoPath(name), "_blobs", hex)
}

func (s *store) tagPath(name, tag string) string {
	return filepath.Join(s.repoPath(name), "_tags", tag)
}

func (s *store) referrersPath(name, subjectHex string) string {
	return filepath.Join(s.repoPath(name), "_referrers", subjectHex)
}

func (s *store) uploadPath(id string) string { return filepath.Join(s.dir, "uploads", id) }

// init makes the directories and removes files a crash left behind.
func (s *store) init() error {
	if err := os.RemoveAll(filepath.Join(s.dir, "tmp")); err != nil {
		return fmt.Errorf("clean %s: %w", s.dir, err)
	}
	for _, d := range []string{"blobs/sha256", "repositories", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// hasBlob reports whether the blob is stored, and its size.
func (s *store) hasBlob(hex string) (int64, bool) {
	fi, err := os.Stat(s.blobPath(hex))
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// repoBlob reports whether the repository holds the blob, and its size.
func (s *store) repoBlob(name, hex string) (int64, bool) {
	if _, err := os.Stat(s.blobLink(name, hex)); err != nil {
		return 0, false
	}
	return s.hasBlob(hex)
}

// linkBlob adds a stored blob to a repository.
func (s *store) linkBlob(name, hex string) error {
	if _, err := os.Stat(s.blobLink(name, hex)); err == nil {
		return nil
	}
	return s.writeSmall(s.blobLink(name, hex), nil)
}

// putBlob stores content (of digest want, if not empty) and adds it to
// the repository.
func (s *store) putBlob(name string, r io.Reader, want string) (string, error) {
	hex, _, err := s.writeBlob(r, want)
	if err != nil {
		return "", err
	}
	return hex, s.linkBlob(name, hex)
}

// writeBlob stores the content of r under its sha256 digest and returns
// the digest's hex. If want is not empty, the content must have that
// digest. Content already present is not written again.
func (s *store) writeBlob(r io.Reader, want string) (string, int64, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return "", 0, err
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return "", 0, digestInvalid(fmt.Sprintf("content digest is sha256:%s, not sha256:%s", got, want))
	}
	if _, ok := s.hasBlob(got); ok {
		return got, n, nil
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	if err := renameSynced(tmp.Name(), s.blobPath(got)); err != nil {
		return "", 0, err
	}
	return got, n, nil
}

// readFile reads a small file, mapping absence to ok false.
func readSmall(path string) (string, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(data), true, nil
}

// writeSmall writes a small file atomically.
func (s *store) writeSmall(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "meta-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return renameSynced(tmp.Name(), path)
}

// renameSynced renames and syncs the target's directory, so that the
// rename survives a crash.
func renameSynced(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(to))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// manifestType returns the media type of a manifest of the repository,
// ok false when the repository does not hold it.
func (s *store) manifestType(name, hex string) (string, bool, error) {
	return readSmall(s.manifestLink(name, hex))
}

// resolveTag returns the digest hex a tag points at.
func (s *store) resolveTag(name, tag string) (string, bool, error) {
	d, ok, err := readSmall(s.tagPath(name, tag))
	if err != nil || !ok {
		return "", ok, err
	}
	hex, found := strings.CutPrefix(strings.TrimSpace(d), "sha256:")
	if !found || !sha256RE.MatchString(hex) {
		return "", false, fmt.Errorf("tag %s:%s holds %q", name, tag, d)
	}
	return hex, true, nil
}

// repoExists reports whether the repository has ever held a manifest.
func (s *store) repoExists(name string) bool {
	fi, err := os.Stat(filepath.Join(s.repoPath(name), "_manifests"))
	return err == nil && fi.IsDir()
}

// tags returns the repository's tags, sorted.
func (s *store) tags(name string) ([]string, error) {
	return listNames(filepath.Join(s.repoPath(name), "_tags"))
}

// listNames lists a directory's file names, sorted; a missing directory
// has none.
func listNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// repositories returns every repository name, sorted.
func (s *store) repositories() ([]string, error) {
	root := filepath.Join(s.dir, "repositories")
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || path == root {
			return nil
		}
		if strings.HasPrefix(d.Name(), "_") {
			if d.Name() == "_manifests" {
				rel, _ := filepath.Rel(root, filepath.Dir(path))
				names = append(names, filepath.ToSlash(rel))
			}
			return filepath.SkipDir
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	sort.Strings(names)
	return names, err
}

// keyedMutex is a set of mutexes by key, created on demand and dropped
// when unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// hashFile returns the sha256 hex of a file's content.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
