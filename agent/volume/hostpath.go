package volume

import (
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath applies the kubelet's hostPath type check: nothing for the
// unset type, create-if-missing for DirectoryOrCreate (mode 0755) and
// FileOrCreate (mode 0644, parents must exist), and for the other types the
// path must exist (symlinks followed) and be of that type.
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	path := src.Path
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return fmt.Errorf("invalid HostPath `%s`: must not contain '..'", path)
		}
	}
	if src.Type == nil || *src.Type == corev1.HostPathUnset {
		return nil
	}
	switch t := *src.Type; t {
	case corev1.HostPathDirectoryOrCreate:
		if !exists(path) {
			if err := os.MkdirAll(path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		}
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathDirectory:
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathFileOrCreate:
		if !exists(path) {
			f, err := os.OpenFile(path, os.O_CREATE, 0o644)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if f != nil {
				f.Close()
			}
		}
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathFile:
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathSocket:
		return typeMatches(path, corev1.HostPathSocket, "socket file")
	case corev1.HostPathCharDev:
		return typeMatches(path, corev1.HostPathCharDev, "character device")
	case corev1.HostPathBlockDev:
		return typeMatches(path, corev1.HostPathBlockDev, "block device")
	default:
		return fmt.Errorf("%s is an invalid volume type", t)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fileType names what path is (following symlinks) with the hostPath type
// names.
func fileType(path string) (corev1.HostPathType, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	mode := fi.Mode()
	switch {
	case mode&os.ModeSocket != 0:
		return corev1.HostPathSocket, nil
	case mode&os.ModeCharDevice != 0:
		return corev1.HostPathCharDev, nil
	case mode&os.ModeDevice != 0:
		return corev1.HostPathBlockDev, nil
	case mode.IsDir():
		return corev1.HostPathDirectory, nil
	case mode.IsRegular():
		return corev1.HostPathFile, nil
	}
	return "", errors.New("only recognise file, directory, socket, block device and character device")
}

func typeMatches(path string, want corev1.HostPathType, desc string) error {
	if !exists(path) {
		return fmt.Errorf("hostPath %s doesn't exist", path)
	}
	got, err := fileType(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, desc, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, desc, got)
	}
	return nil
}
