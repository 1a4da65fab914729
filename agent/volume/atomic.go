package volume

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	maxFileName    = 255
	maxPath        = 4096
)

// file is one file of a volume's payload.
type file struct {
	data []byte
	mode os.FileMode
}

// writeAtomic projects payload (relative path → file) into dir the way the
// kubelet's AtomicWriter does, so that readers in containers never see a
// mix of old and new files:
//
//  1. the payload is validated (relative, no "..", names ≤ 255 bytes);
//  2. if "..data" exists and every file has the same contents and no file
//     is gone, nothing is written (only missing user-visible links are
//     recreated);
//  3. otherwise the files go into a new hidden directory
//     "..<UTC timestamp>.<random>" (mode 0755, files chmod'ed to their mode
//     whatever the umask), setPerms runs (fsGroup ownership), a
//     "..data_tmp" symlink to it is renamed over "..data" (atomic);
//  4. every top-level name is a symlink "name -> ..data/name";
//  5. top-level names no longer in the payload are removed, then the old
//     timestamped directory (and any left by an interrupted write).
//
// It reports whether new data was written. dir must exist; the caller
// serialises writes to one dir.
func writeAtomic(dir string, payload map[string]file, now time.Time, setPerms func() error) (bool, error) {
	clean := make(map[string]file, len(payload))
	for p, f := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		clean[filepath.Clean(p)] = f
	}
	dataDir := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", dataDir, err)
	}

	write := true
	var stale []string
	if oldTs != "" {
		if stale, err = pathsToRemove(clean, filepath.Join(dir, oldTs)); err != nil {
			return false, err
		}
		changed, err := payloadChanged(clean, filepath.Join(dir, oldTs))
		if err != nil {
			return false, err
		}
		write = changed || len(stale) > 0
	}

	var newTs string
	if write {
		tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			return false, fmt.Errorf("create data dir: %w", err)
		}
		newTs = filepath.Base(tsDir)
		if err := writePayload(tsDir, clean); err != nil {
			os.RemoveAll(tsDir)
			return false, err
		}
		if setPerms != nil {
			if err := setPerms(); err != nil {
				os.RemoveAll(tsDir)
				return false, err
			}
		}
		tmpLink := filepath.Join(dir, newDataDirName)
		os.Remove(tmpLink) // left by an interrupted write
		if err := os.Symlink(newTs, tmpLink); err != nil {
			os.RemoveAll(tsDir)
			return false, fmt.Errorf("link new data dir: %w", err)
		}
		if err := os.Rename(tmpLink, dataDir); err != nil {
			os.Remove(tmpLink)
			os.RemoveAll(tsDir)
			return false, fmt.Errorf("swap data dir: %w", err)
		}
	}

	if err := createVisibleLinks(dir, clean); err != nil {
		return write, err
	}
	for _, p := range stale {
		if strings.Contains(p, "/") {
			continue // only links at the top level are user-visible
		}
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return write, fmt.Errorf("remove old path %s: %w", p, err)
		}
	}
	if write {
		if err := removeOldDataDirs(dir, newTs); err != nil {
			return write, err
		}
	}
	return write, nil
}

// validatePayloadPath rejects absolute paths, "..", paths starting with
// ".." (reserved for the writer) and over-long names.
func validatePayloadPath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > maxPath {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPath)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileName {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileName)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// payloadChanged reports whether a file of payload is missing from oldDir
// or has other contents.
func payloadChanged(payload map[string]file, oldDir string) (bool, error) {
	for p, f := range payload {
		onDisk, err := os.ReadFile(filepath.Join(oldDir, p))
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("read current %s: %w", p, err)
		}
		if !bytes.Equal(onDisk, f.data) {
			return true, nil
		}
	}
	return false, nil
}

// pathsToRemove lists the paths in oldDir that are neither in payload nor
// a parent directory of a payload path.
func pathsToRemove(payload map[string]file, oldDir string) ([]string, error) {
	keep := map[string]bool{}
	for p := range payload {
		for sub := p; sub != "." && sub != "/" && sub != ""; sub = filepath.Dir(sub) {
			keep[sub] = true
		}
	}
	var out []string
	err := filepath.WalkDir(oldDir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(oldDir, path)
		if rel != "." && !keep[rel] {
			out = append(out, rel)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walk current data: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// writePayload writes every file under tsDir with its exact mode.
func writePayload(tsDir string, payload map[string]file) error {
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return fmt.Errorf("chmod data dir: %w", err)
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := mkdirAll755(tsDir, filepath.Dir(p)); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Chmod(full, f.mode); err != nil { // the umask may have dropped bits
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// mkdirAll755 creates rel's directories under base with mode 0755.
func mkdirAll755(base, rel string) error {
	if rel == "." {
		return nil
	}
	cur := base
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return fmt.Errorf("create %s: %w", cur, err)
		}
		if err := os.Chmod(cur, 0o755); err != nil {
			return fmt.Errorf("chmod %s: %w", cur, err)
		}
	}
	return nil
}

// createVisibleLinks makes "name -> ..data/name" for every top-level name
// of payload that has no entry yet.
func createVisibleLinks(dir string, payload map[string]file) error {
	for p := range payload {
		top, _, _ := strings.Cut(p, "/")
		visible := filepath.Join(dir, top)
		if _, err := os.Lstat(visible); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), visible); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("link %s: %w", top, err)
		}
	}
	return nil
}

// removeOldDataDirs removes the hidden timestamped directories other than
// keep: the one replaced, and any an interrupted write left.
func removeOldDataDirs(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == keep || !strings.HasPrefix(name, "..") || name == dataDirName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove old data dir %s: %w", name, err)
		}
	}
	return nil
}
