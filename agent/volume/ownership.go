package volume

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// Bits the kubelet adds for fsGroup: group read/write (read only for
// read-only volumes), and for directories group search and setgid, so
// that files created later belong to the group too.
const (
	rwMask   os.FileMode = 0o660
	roMask   os.FileMode = 0o440
	execMask os.FileMode = 0o110
)

func podFSGroup(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	return pod.Spec.SecurityContext.FSGroup
}

// setOwnership gives everything under dir (dir included; symlinks not
// followed) group gid and the fsGroup mode bits, as the kubelet's
// SetVolumeOwnership does. Failures are logged, not returned, as there.
func setOwnership(log *slog.Logger, dir string, gid int64, readOnly bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(gid)); err != nil {
			log.Warn("fsGroup chown failed", "path", path, "err", err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // chmod would change the target's mode
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mask := rwMask
		if readOnly {
			mask = roMask
		}
		if info.IsDir() {
			mask |= os.ModeSetgid | execMask
		}
		if err := os.Chmod(path, info.Mode()|mask); err != nil {
			log.Warn("fsGroup chmod failed", "path", path, "err", err)
		}
		return nil
	})
}
