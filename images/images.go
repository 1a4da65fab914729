// Package images makes berth's built-in container images: berth/pause (the
// sandbox image), berth/demo:v1 and :v2 (the HTTP demo app) and busybox
// (from the host's static busybox, with a signal-forwarding init as its
// entrypoint). Their programs are built by hack/build.sh and embedded in
// the berth binary, so that a cluster needs no registry outside itself.
package images

import (
	"archive/tar"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Names of the built-in images, as pod specs write them.
const (
	Pause   = "berth/pause:3.10"
	DemoV1  = "berth/demo:v1"
	DemoV2  = "berth/demo:v2"
	Busybox = "busybox:latest"
)

//go:embed bin
var bin embed.FS

// Embedded returns the pause and demo programs built into this binary.
func Embedded() (pause, demo []byte, err error) {
	pause, err1 := fs.ReadFile(bin, "bin/pause")
	demo, err2 := fs.ReadFile(bin, "bin/demo")
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("this berth was built without its image programs (run hack/build.sh): %w", err)
	}
	return pause, demo, nil
}

// File is a file of an image layer.
type File struct {
	Path string // absolute, e.g. "/bin/busybox"
	Mode int64
	Data []byte
	Link string // for symlinks: the target
	Dir  bool
}

// epoch dates every file, so that building twice gives the same digests.
var epoch = time.Unix(0, 0)

// Layer makes a gzip-compressed layer of files.
func Layer(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// Config is the run configuration of an image.
type Config struct {
	Entrypoint, Cmd []string
	Env             []string
	WorkingDir      string
	ExposedPorts    []string // "8080/tcp"
}

// Build makes a linux/amd64 OCI image of one layer on top of base (nil for
// an empty base).
func Build(base v1.Image, files []File, cfg Config) (v1.Image, error) {
	if base == nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	layer, err := Layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: epoch}
	if cfg.Entrypoint != nil {
		cf.Config.Entrypoint = cfg.Entrypoint
	}
	if cfg.Cmd != nil {
		cf.Config.Cmd = cfg.Cmd
	}
	cf.Config.Env = append(cf.Config.Env, cfg.Env...)
	if cfg.WorkingDir != "" {
		cf.Config.WorkingDir = cfg.WorkingDir
	}
	if len(cfg.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// PauseImage is berth/pause: the pause program alone.
func PauseImage(pause []byte) (v1.Image, error) {
	return Build(nil, []File{{Path: "/pause", Mode: 0o755, Data: pause}}, Config{Entrypoint: []string{"/pause"}})
}

// DemoImage is berth/demo at a version.
func DemoImage(demo []byte, version string) (v1.Image, error) {
	return Build(nil, []File{{Path: "/demo", Mode: 0o755, Data: demo}}, Config{
		Entrypoint:   []string{"/demo"},
		Env:          []string{"PATH=/", "DEMO_VERSION=" + version},
		ExposedPorts: []string{"8080/tcp"},
	})
}

// BusyboxImage is busybox from a static busybox binary: every applet linked
// in /bin, /etc/passwd and /etc/group, /tmp, and the pause program as a
// signal-forwarding init (entrypoint /sbin/init, command sh).
func BusyboxImage(busyboxPath string, initProgram []byte) (v1.Image, error) {
	data, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	files := []File{
		{Path: "/bin", Dir: true, Mode: 0o755},
		{Path: "/bin/busybox", Mode: 0o755, Data: data},
		{Path: "/sbin", Dir: true, Mode: 0o755},
		{Path: "/sbin/init", Mode: 0o755, Data: initProgram},
		{Path: "/etc", Dir: true, Mode: 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		files = append(files, File{Path: "/bin/" + a, Mode: 0o777, Link: "busybox"})
	}
	return Build(nil, files, Config{
		Entrypoint: []string{"/sbin/init"},
		Cmd:        []string{"sh"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}
