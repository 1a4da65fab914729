package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildOptions describe an image to build: one layer on a base image.
type BuildOptions struct {
	// Source is a directory, which becomes the layer's content at Dest,
	// or a Go main package (a directory of Go files of package main, or
	// an import path), built statically for linux/amd64 and put at
	// /app/<name>. A directory's files are read again when the image is
	// pushed or saved: they must not change meanwhile.
	Source string
	// Dest is where a directory's content goes; default "/".
	Dest string
	// Base is the image to build on; nil for an empty one (scratch).
	Base v1.Image
	// Entrypoint replaces the base's entrypoint (a Go program's default:
	// /app/<name>). When set, Cmd replaces the base's command even if
	// empty, as a Dockerfile's ENTRYPOINT does.
	Entrypoint []string
	Cmd        []string
	// Env adds (or replaces) KEY=VALUE variables of the base.
	Env        []string
	WorkingDir string
	// Created dates the image and its files' history; default: now, or
	// $SOURCE_DATE_EPOCH when set (reproducible builds).
	Created time.Time
	// Go is the go command; default "go".
	Go string
}

// Build makes an image from a directory or a Go main package.
func Build(ctx context.Context, o BuildOptions) (v1.Image, error) {
	if o.Source == "" {
		return nil, errors.New("build: no source")
	}
	if o.Created.IsZero() {
		o.Created = createdTime()
	}
	var (
		files      []layerFile
		entrypoint []string
	)
	if prog, ok := goProgram(o.Source); ok {
		tmp, err := os.MkdirTemp("", "berth-build-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		bin, err := goBuild(ctx, o, prog, tmp)
		if err != nil {
			return nil, err
		}
		// The layer is read again when pushed: keep the program in memory,
		// not in the temporary directory.
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		target := "/app/" + prog.name
		files = []layerFile{{name: "app", dir: true, mode: 0o755}, {name: target[1:], data: data, mode: 0o755}}
		entrypoint = []string{target}
	} else {
		var err error
		if files, err = dirFiles(o.Source, o.Dest); err != nil {
			return nil, err
		}
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return tarLayer(files), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	base := o.Base
	if base == nil {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: layerMediaType(base),
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "berth image build " + o.Source},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", "amd64"
	}
	cf.Created = v1.Time{Time: o.Created}
	if o.Entrypoint != nil {
		entrypoint = o.Entrypoint
	}
	if entrypoint != nil {
		cf.Config.Entrypoint, cf.Config.Cmd = entrypoint, o.Cmd
	} else if o.Cmd != nil {
		cf.Config.Cmd = o.Cmd
	}
	cf.Config.Env = mergeEnv(cf.Config.Env, o.Env)
	if o.WorkingDir != "" {
		cf.Config.WorkingDir = o.WorkingDir
	}
	return mutate.ConfigFile(img, cf)
}

// layerMediaType matches the base's manifest format: Docker layers in a
// Docker image, OCI layers otherwise.
func layerMediaType(base v1.Image) types.MediaType {
	if mt, err := base.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		return types.DockerLayer
	}
	return types.OCILayer
}

func createdTime() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

func mergeEnv(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// goProg is a Go main package to build.
type goProg struct {
	dir  string // a directory, or
	pkg  string // an import path
	name string // the program's name
}

var (
	importPathRE   = regexp.MustCompile(`^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$`)
	majorVersionRE = regexp.MustCompile(`^v[0-9]+$`)
)

// goProgram reports whether source is a Go main package: a directory with
// Go files of package main, or (not a directory) an import path.
func goProgram(source string) (goProg, bool) {
	fi, err := os.Stat(source)
	if err != nil {
		if importPathRE.MatchString(source) && strings.Contains(source, "/") {
			return goProg{pkg: source, name: programName(source)}, true
		}
		return goProg{}, false
	}
	if !fi.IsDir() {
		return goProg{}, false
	}
	abs, err := filepath.Abs(source)
	if err != nil {
		return goProg{}, false
	}
	matches, _ := filepath.Glob(filepath.Join(abs, "*.go"))
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), m, nil, parser.PackageClauseOnly)
		if err == nil && f.Name.Name == "main" {
			return goProg{dir: abs, name: programName(filepath.ToSlash(abs))}, true
		}
	}
	return goProg{}, false
}

// programName is what go build names a package's program: its last path
// element, skipping a major version suffix.
func programName(p string) string {
	elems := strings.Split(strings.TrimSuffix(p, "/"), "/")
	n := elems[len(elems)-1]
	if len(elems) > 1 && majorVersionRE.MatchString(n) {
		n = elems[len(elems)-2]
	}
	return n
}

// goBuild builds a static linux/amd64 program into dir.
func goBuild(ctx context.Context, o BuildOptions, p goProg, dir string) (string, error) {
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	out := filepath.Join(dir, p.name)
	target := p.pkg
	if p.dir != "" {
		target = "."
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", out, target)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		if p.pkg != "" {
			return "", fmt.Errorf("%s is not a directory; as a Go package, go build failed: %w\n%s", o.Source, err, msg)
		}
		return "", fmt.Errorf("go build %s: %w\n%s", o.Source, err, msg)
	}
	return out, nil
}

// layerFile is an entry of a layer: name (relative to /, slash-separated)
// and where its content comes from.
type layerFile struct {
	name string
	mode fs.FileMode
	dir  bool
	link string // symlink target
	src  string // regular file: path on disk, or
	data []byte // its content
}

// dirFiles lists a directory's tree as layer entries under dest, with the
// directories leading to dest.
func dirFiles(root, dest string) ([]layerFile, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is neither a directory nor a Go main package", root)
	}
	dest = strings.Trim(path.Clean("/"+filepath.ToSlash(dest)), "/")
	var files []layerFile
	if dest != "" {
		parts := strings.Split(dest, "/")
		for i := range parts {
			files = append(files, layerFile{name: strings.Join(parts[:i+1], "/"), dir: true, mode: 0o755})
		}
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := layerFile{name: path.Join(dest, filepath.ToSlash(rel)), mode: info.Mode()}
		switch {
		case d.IsDir():
			f.dir = true
		case info.Mode()&fs.ModeSymlink != 0:
			if f.link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			f.src = p
		default:
			return nil // sockets, devices, pipes: not image content
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// tarLayer streams the entries as a tar archive: owned by root, dated at
// the epoch, so that the same files always make the same layer.
func tarLayer(files []layerFile) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeTar(pw, files))
	}()
	return pr
}

func writeTar(w io.Writer, files []layerFile) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: int64(f.mode.Perm()), ModTime: epoch, Format: tar.FormatPAX}
		if f.mode&fs.ModeSetuid != 0 {
			h.Mode |= 0o4000
		}
		if f.mode&fs.ModeSetgid != 0 {
			h.Mode |= 0o2000
		}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		var src *os.File
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		case f.src == "":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		default:
			var err error
			if src, err = os.Open(f.src); err != nil {
				return err
			}
			fi, err := src.Stat()
			if err != nil {
				src.Close()
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			if src != nil {
				src.Close()
			}
			return err
		}
		if src != nil {
			_, err := io.Copy(tw, src)
			src.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", f.src, err)
			}
		} else if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
