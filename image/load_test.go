package image_test

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"berth/image"
)

// opened opens a file and checks it holds want images.
func opened(t *testing.T, file string, want int) []image.Loaded {
	t.Helper()
	a, err := image.Open(file)
	if err != nil {
		t.Fatalf("open %s: %v", file, err)
	}
	t.Cleanup(func() { a.Close() })
	if len(a.Images) != want {
		t.Fatalf("%s: %d images, want %d", file, len(a.Images), want)
	}
	for _, l := range a.Images {
		var err error
		if l.Index != nil {
			err = validate.Index(l.Index)
		} else {
			err = validate.Image(l.Image)
		}
		if err != nil {
			t.Errorf("%s: invalid image %s: %v", file, l.Name, err)
		}
	}
	return a.Images
}

func digest(t *testing.T, l image.Loaded) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func gzipFile(t *testing.T, src string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := src + ".gz"
	out, _ := os.Create(dst)
	zw := gzip.NewWriter(out)
	io.Copy(zw, in)
	zw.Close()
	out.Close()
	return dst
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(t)
	want, _ := img.Digest()

	t.Run("saved archive (OCI layout in a tar, as docker save 25+)", func(t *testing.T) {
		file := filepath.Join(dir, "saved.tar")
		if err := image.Save(file, "app:v1", img); err != nil {
			t.Fatal(err)
		}
		l := opened(t, file, 1)[0]
		if digest(t, l) != want || l.Name != "docker.io/library/app:v1" {
			t.Errorf("got %s %q, want %s docker.io/library/app:v1", digest(t, l), l.Name, want)
		}
		// The legacy manifest.json is there for older docker load.
		if m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) }); err != nil || len(m) != 1 || m[0].RepoTags[0] != "app:v1" {
			t.Errorf("manifest.json: %+v %v", m, err)
		}
	})

	t.Run("docker save tarball, plain and gzipped", func(t *testing.T) {
		file := filepath.Join(dir, "docker.tar")
		tag, _ := name.NewTag("example.com/team/app:v2")
		if err := tarball.WriteToFile(file, tag, img); err != nil {
			t.Fatal(err)
		}
		l := opened(t, file, 1)[0]
		if l.Name != "example.com/team/app:v2" {
			t.Errorf("name %q", l.Name)
		}
		gz := opened(t, gzipFile(t, file), 1)[0]
		again := opened(t, file, 1)[0]
		if digest(t, gz) != digest(t, l) || digest(t, again) != digest(t, l) {
			t.Errorf("the same tarball read three times gives %s %s %s", digest(t, l), digest(t, gz), digest(t, again))
		}
	})

	t.Run("docker save tarball of several images", func(t *testing.T) {
		file := filepath.Join(dir, "multi.tar")
		other, _ := random.Image(100, 1)
		a, _ := name.NewTag("app-a:1")
		b, _ := name.NewTag("app-b:2")
		if err := tarball.MultiRefWriteToFile(file, map[name.Reference]v1.Image{a: img, b: other}); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range opened(t, file, 2) {
			names = append(names, l.Name)
		}
		if strings.Join(names, ",") != "app-a:1,app-b:2" && strings.Join(names, ",") != "app-b:2,app-a:1" {
			t.Errorf("names %v", names)
		}
	})

	t.Run("OCI layout directory", func(t *testing.T) {
		p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
			t.Fatal(err)
		}
		idx, _ := random.Index(100, 1, 2)
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "docker.io/library/multi:1"})); err != nil {
			t.Fatal(err)
		}
		ls := opened(t, string(p), 2)
		if digest(t, ls[0]) != want || ls[0].Name != "" || ls[0].Image == nil {
			t.Errorf("image: %s %q", digest(t, ls[0]), ls[0].Name)
		}
		wantIdx, _ := idx.Digest()
		if ls[1].Index == nil || digest(t, ls[1]) != wantIdx || ls[1].Name != "docker.io/library/multi:1" {
			t.Errorf("index: %s %q", digest(t, ls[1]), ls[1].Name)
		}
	})

	t.Run("OCI layout with some platforms only", func(t *testing.T) {
		p, err := layout.Write(filepath.Join(dir, "partial"), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		idx, _ := random.Index(100, 1, 2)
		if err := p.AppendIndex(idx); err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		gone := im.Manifests[0].Digest
		os.Remove(filepath.Join(string(p), "blobs", "sha256", gone.Hex))
		l := opened(t, string(p), 1)[0]
		if l.Index != nil || l.Image == nil || digest(t, l) != im.Manifests[1].Digest {
			t.Errorf("got index %v, image digest %s; want the present image %s", l.Index != nil, digest(t, l), im.Manifests[1].Digest)
		}
	})
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not an archive at all, just some text that is long enough"), 0o644)
	emptyTar := filepath.Join(dir, "empty.tar")
	writeTar(t, emptyTar, map[string]string{"hello.txt": "hi"})
	evil := filepath.Join(dir, "evil.tar")
	writeTar(t, evil, map[string]string{"oci-layout": "{}", "index.json": "{}", "../escape": "x"})
	for file, want := range map[string]string{
		garbage:                           "not a tar archive",
		emptyTar:                          "neither an OCI image layout",
		evil:                              "leaves the archive",
		filepath.Join(dir, "nonexistent"): "no such file",
	} {
		if _, err := image.Open(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("open %s: %v, want %q", filepath.Base(file), err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "escape")); err == nil {
		t.Error("an archive wrote outside its directory")
	}
}

func writeTar(t *testing.T, file string, files map[string]string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
}
