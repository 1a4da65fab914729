package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations of an OCI layout's index that name an image.
const (
	annotationImageName = "io.containerd.image.name"          // full reference (containerd, docker save)
	annotationRefName   = "org.opencontainers.image.ref.name" // often only the tag
)

// Loaded is an image (or index) read from a file.
type Loaded struct {
	// Name is the name the file gives the image ("" when none): a
	// RepoTag of a `docker save` tarball, or the image name annotation of
	// an OCI layout.
	Name  string
	Image v1.Image      // an image, or
	Index v1.ImageIndex // a multi-platform index
}

// Digest is the image's or index's digest.
func (l Loaded) Digest() (v1.Hash, error) {
	if l.Index != nil {
		return l.Index.Digest()
	}
	return l.Image.Digest()
}

// Archive is the content of an image file. Close removes what Open
// unpacked.
type Archive struct {
	Images []Loaded
	tmp    string
}

// Close removes the files unpacked from the archive.
func (a *Archive) Close() error {
	if a.tmp == "" {
		return nil
	}
	return os.RemoveAll(a.tmp)
}

// Open reads the images of an OCI image layout (a directory, or a tar
// archive of one, as `docker save` of Docker 25+ and `buildctl --output
// type=oci` write) or of a `docker save` tarball in the older format
// (manifest.json), gzip-compressed or not. Manifests are kept byte for
// byte, so an image keeps its digest when pushed. A legacy tarball has no
// manifest: go-containerregistry makes one, always the same for the
// same tarball.
func Open(file string) (*Archive, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		images, err := fromLayout(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return &Archive{Images: images}, nil
	}
	a := &Archive{}
	tarPath, entries, err := a.readTar(file)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	switch {
	case entries["index.json"] && entries["oci-layout"]:
		dir := filepath.Join(a.tmp, "layout")
		if err := extract(tarPath, dir); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		a.Images, err = fromLayout(dir)
	case entries["manifest.json"]:
		a.Images, err = fromDockerTarball(tarPath)
	default:
		err = errors.New("neither an OCI image layout (index.json) nor a docker save tarball (manifest.json)")
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return a, nil
}

// readTar lists the top-level files of a tar archive, first decompressing
// a gzip-compressed one into the archive's temporary directory.
func (a *Archive) readTar(file string) (string, map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	tarPath := file
	if a.tmp, err = os.MkdirTemp("", "berth-image-"); err != nil {
		return "", nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", nil, err
		}
		tarPath = filepath.Join(a.tmp, "archive.tar")
		out, err := os.Create(tarPath)
		if err != nil {
			return "", nil, err
		}
		_, err = io.Copy(out, zr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", nil, fmt.Errorf("decompress: %w", err)
		}
	}
	tf, err := os.Open(tarPath)
	if err != nil {
		return "", nil, err
	}
	defer tf.Close()
	entries := map[string]bool{}
	tr := tar.NewReader(tf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("not a tar archive: %w", err)
		}
		entries[path.Clean(h.Name)] = true
	}
	return tarPath, entries, nil
}

// extract unpacks the regular files of a tar archive under dir, refusing
// names that leave it.
func extract(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := path.Clean(h.Name)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("archive entry %q leaves the archive", h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

// fromLayout reads the images an OCI layout's index.json lists.
func fromLayout(dir string) ([]Loaded, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, d := range im.Manifests {
		l := Loaded{Name: layoutName(d.Annotations)}
		switch {
		case d.MediaType.IsIndex():
			idx, err := root.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			l.Index = idx
			if img, partial, err := completeImage(p, idx); err != nil {
				return nil, err
			} else if partial {
				// Only some platforms' content is in the file (docker
				// save of one platform): the index cannot be pushed, its
				// image of this platform can.
				l.Index, l.Image = nil, img
			}
		case d.MediaType.IsImage():
			if l.Image, err = root.Image(d.Digest); err != nil {
				return nil, err
			}
		default:
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("the layout holds no image")
	}
	return out, nil
}

// completeImage checks whether every image of an index is in the layout.
// If not, it returns the one present image (linux/amd64 if several).
func completeImage(p layout.Path, idx v1.ImageIndex) (v1.Image, bool, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, false, err
	}
	var present []v1.Descriptor
	for _, d := range im.Manifests {
		if _, err := os.Stat(filepath.Join(string(p), "blobs", d.Digest.Algorithm, d.Digest.Hex)); err == nil {
			present = append(present, d)
		}
	}
	if len(present) == len(im.Manifests) {
		return nil, false, nil
	}
	if len(present) == 0 {
		return nil, true, errors.New("the layout's index has none of its images")
	}
	pick := present[0]
	for _, d := range present {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			pick = d
		}
	}
	img, err := idx.Image(pick.Digest)
	return img, true, err
}

// layoutName reads an image name from a layout's annotations: the full
// reference containerd and docker write, or a ref.name that is a full
// reference (not just a tag).
func layoutName(ann map[string]string) string {
	if n := ann[annotationImageName]; n != "" {
		return n
	}
	if n := ann[annotationRefName]; strings.ContainsAny(n, "/:") {
		if _, err := name.ParseReference(n); err == nil {
			return n
		}
	}
	return ""
}

// fromDockerTarball reads a `docker save` tarball of the older format:
// one image for each RepoTag (or one unnamed image).
func fromDockerTarball(tarPath string) ([]Loaded, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(tarPath) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, d := range m {
		if len(d.RepoTags) == 0 {
			if len(m) != 1 {
				return nil, errors.New("the tarball holds several images, some without a name")
			}
			img, err := tarball.Image(opener, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, Loaded{Image: img})
			continue
		}
		for _, rt := range d.RepoTags {
			tag, err := name.NewTag(rt)
			if err != nil {
				return nil, fmt.Errorf("image name %q: %w", rt, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return nil, err
			}
			out = append(out, Loaded{Name: rt, Image: img})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the tarball holds no image")
	}
	return out, nil
}
