package volume

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// emptyDirPerm is the mode of an emptyDir (and of the directory under an
// API-backed volume), as the kubelet makes it: writable by any user the
// containers run as.
const emptyDirPerm os.FileMode = 0o777

// tmpfsMagic is statfs' f_type of a tmpfs.
const tmpfsMagic = 0x01021994

// setupEmptyDir makes dir ready as an emptyDir of the given medium: a
// directory with mode 0777, or for medium Memory a tmpfs mounted on it
// (size: the smallest of sizeLimit, the pod's memory limit and node
// allocatable memory, as the kubelet computes it; the kernel's default,
// half of RAM, when none is known). Group ownership for fsGroup is applied
// when the directory or mount is new, as the kubelet applies it once.
func (m *Manager) setupEmptyDir(ctx context.Context, dir string, pod *corev1.Pod, medium corev1.StorageMedium, sizeLimit *resource.Quantity, fsGroup *int64) error {
	if medium != corev1.StorageMediumDefault && medium != corev1.StorageMediumMemory {
		return fmt.Errorf("emptyDir medium %q is not supported", medium)
	}
	fresh, err := makeEmptyDir(dir)
	if err != nil {
		return err
	}
	if medium == corev1.StorageMediumMemory {
		mounted, err := isTmpfsMount(dir)
		if err != nil {
			return err
		}
		if !mounted {
			opts := ""
			if size := m.tmpfsSize(ctx, pod, sizeLimit); size > 0 {
				opts = "size=" + strconv.FormatInt(size, 10)
			}
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
				return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
			}
			m.log.Debug("mounted tmpfs", "dir", dir, "options", opts)
			fresh = true
		}
	}
	if fresh && fsGroup != nil {
		if err := setOwnership(m.log, dir, *fsGroup, false); err != nil {
			return fmt.Errorf("set fsGroup ownership: %w", err)
		}
	}
	return nil
}

// makeEmptyDir creates dir (parents 0750) with mode 0777 whatever the
// umask; it reports whether dir is new.
func makeEmptyDir(dir string) (bool, error) {
	if fi, err := os.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("volume path %s exists and is not a directory", dir)
		}
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return false, fmt.Errorf("create volume dir: %w", err)
	}
	if err := os.Mkdir(dir, emptyDirPerm); err != nil && !errors.Is(err, os.ErrExist) {
		return false, fmt.Errorf("create volume dir: %w", err)
	}
	if err := os.Chmod(dir, emptyDirPerm); err != nil {
		return false, fmt.Errorf("create volume dir: %w", err)
	}
	return true, nil
}

// isTmpfsMount reports whether a tmpfs is mounted on dir: dir is on a
// tmpfs and on another device than its parent.
func isTmpfsMount(dir string) (bool, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if fs.Type != tmpfsMagic {
		return false, nil
	}
	var st, parent syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := syscall.Stat(filepath.Dir(dir), &parent); err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Dir(dir), err)
	}
	return st.Dev != parent.Dev, nil
}

// tmpfsSize is the kubelet's size of a memory-backed emptyDir: node
// allocatable memory, lowered to the pod's memory limit, lowered to the
// volume's sizeLimit; 0 when none is known.
func (m *Manager) tmpfsSize(ctx context.Context, pod *corev1.Pod, sizeLimit *resource.Quantity) int64 {
	var size int64
	if alloc := m.node.allocatable(ctx); alloc != nil {
		if q, ok := alloc[corev1.ResourceMemory]; ok {
			size = q.Value()
		}
	}
	if l := podMemoryLimit(pod); l > 0 && (size == 0 || l <= size) {
		size = l
	}
	if sizeLimit != nil {
		if l := sizeLimit.Value(); l > 0 && (size == 0 || l <= size) {
			size = l
		}
	}
	return size
}

// podMemoryLimit is the pod's memory limit as its cgroup gets it: 0 unless
// every container declares one; else the larger of the app containers
// (plus sidecars) and the largest init container.
func podMemoryLimit(pod *corev1.Pod) int64 {
	var apps, inits int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		apps += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			apps += q.Value() // a sidecar runs beside the app containers
		} else if q.Value() > inits {
			inits = q.Value()
		}
	}
	return max(apps, inits)
}

// mountPoint is one line of /proc/self/mountinfo.
type mountPoint struct {
	path   string
	fstype string
}

// mounts lists the mounts of this process' mount namespace.
func mounts() ([]mountPoint, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []mountPoint
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		mp := mountPoint{path: unescapeMountinfo(fields[4])}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				mp.fstype = fields[i+1]
				break
			}
		}
		out = append(out, mp)
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	all, err := mounts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range all {
		if mp.path == dir || strings.HasPrefix(mp.path, dir+"/") {
			out = append(out, mp.path)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unmountUnder unmounts everything mounted at or below dir (lazily when a
// mount is busy) and fails if anything stays mounted, so that the caller
// never removes files through a mount.
func unmountUnder(dir string) error {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	} else if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for range 5 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			err := syscall.Unmount(mp, 0)
			if errors.Is(err, syscall.EBUSY) {
				err = syscall.Unmount(mp, syscall.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mps) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(mps, ", "))
	}
	return nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
