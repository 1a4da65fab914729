package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"berth/image"
	"berth/images"
)

// entry is a file of an image's last layer.
type entry struct {
	mode int64
	typ  byte
	data []byte
	link string
}

// lastLayer reads the entries of an image's last layer.
func lastLayer(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = entry{mode: h.Mode, typ: h.Typeflag, data: data, link: h.Linkname}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "<h1>hi</h1>", "css/site.css": "body{}", "run.sh": "#!/bin/sh\n"})
	if err := os.Symlink("index.html", filepath.Join(dir, "home.html")); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	build := func() v1.Image {
		img, err := image.Build(context.Background(), image.BuildOptions{Source: dir, Dest: "/srv/www", Entrypoint: []string{"/srv/www/run.sh"}, Env: []string{"A=1"}, WorkingDir: "/srv/www", Created: created})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	img := build()
	files := lastLayer(t, img)
	for name, want := range map[string]entry{
		"srv/":                 {mode: 0o755, typ: tar.TypeDir},
		"srv/www/":             {mode: 0o755, typ: tar.TypeDir},
		"srv/www/index.html":   {mode: 0o644, typ: tar.TypeReg, data: []byte("<h1>hi</h1>")},
		"srv/www/css/":         {mode: 0o755, typ: tar.TypeDir},
		"srv/www/css/site.css": {mode: 0o644, typ: tar.TypeReg, data: []byte("body{}")},
		"srv/www/run.sh":       {mode: 0o755, typ: tar.TypeReg, data: []byte("#!/bin/sh\n")},
		"srv/www/home.html":    {mode: 0o777, typ: tar.TypeSymlink, link: "index.html"},
	} {
		got, ok := files[name]
		if !ok {
			t.Errorf("%s missing from the layer (have %v)", name, keys(files))
			continue
		}
		if got.mode != want.mode || got.typ != want.typ || !bytes.Equal(got.data, want.data) || got.link != want.link {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !slices.Equal(cf.Config.Entrypoint, []string{"/srv/www/run.sh"}) ||
		!slices.Equal(cf.Config.Env, []string{"A=1"}) || cf.Config.WorkingDir != "/srv/www" || !cf.Created.Time.Equal(created) {
		t.Errorf("config %+v", cf)
	}
	d1, _ := img.Digest()
	d2, _ := build().Digest()
	if d1 != d2 {
		t.Errorf("same directory, two digests: %s %s", d1, d2)
	}
}

func keys(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBuildOnBase(t *testing.T) {
	base, err := images.Build(nil, []images.File{{Path: "/bin/sh", Mode: 0o755, Data: []byte("sh")}}, images.Config{
		Entrypoint: []string{"/sbin/init"}, Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "HOME=/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello.txt": "hello"})
	for _, tc := range []struct {
		name            string
		opts            image.BuildOptions
		entrypoint, cmd []string
		env             []string
	}{
		{"keeps the base's entrypoint", image.BuildOptions{Cmd: []string{"cat", "/hello.txt"}}, []string{"/sbin/init"}, []string{"cat", "/hello.txt"}, []string{"PATH=/bin", "HOME=/"}},
		{"an entrypoint resets the command", image.BuildOptions{Entrypoint: []string{"/bin/sh"}}, []string{"/bin/sh"}, nil, []string{"PATH=/bin", "HOME=/"}},
		{"env replaces and adds", image.BuildOptions{Env: []string{"PATH=/usr/bin:/bin", "X=y"}}, []string{"/sbin/init"}, []string{"sh"}, []string{"PATH=/usr/bin:/bin", "HOME=/", "X=y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Source, tc.opts.Base = dir, base
			img, err := image.Build(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := img.Layers()
			if len(layers) != 2 {
				t.Errorf("%d layers, want the base's and one", len(layers))
			}
			cf, _ := img.ConfigFile()
			if !slices.Equal(cf.Config.Entrypoint, tc.entrypoint) || !slices.Equal(cf.Config.Cmd, tc.cmd) || !slices.Equal(cf.Config.Env, tc.env) {
				t.Errorf("entrypoint %q cmd %q env %q; want %q %q %q", cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.Env, tc.entrypoint, tc.cmd, tc.env)
			}
			if _, ok := lastLayer(t, img)["hello.txt"]; !ok {
				t.Error("hello.txt missing")
			}
		})
	}
}

// goPackage writes a small Go main package (its own module) and returns
// its directory.
func goPackage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	writeFiles(t, dir, map[string]string{
		"go.mod":       "module example.com/hello\n\ngo 1.22\n",
		"main.go":      "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from berth\") }\n",
		"main_test.go": "package main\n",
	})
	return dir
}

func TestBuildGoPackage(t *testing.T) {
	img, err := image.Build(context.Background(), image.BuildOptions{Source: goPackage(t)})
	if err != nil {
		t.Fatal(err)
	}
	files := lastLayer(t, img)
	bin, ok := files["app/hello"]
	if !ok || bin.mode != 0o755 {
		t.Fatalf("app/hello: %v %o (have %v)", ok, bin.mode, keys(files))
	}
	f, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("not an ELF program: %v", err)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("dynamically linked (has an interpreter)")
		}
	}
	cf, _ := img.ConfigFile()
	if !slices.Equal(cf.Config.Entrypoint, []string{"/app/hello"}) {
		t.Errorf("entrypoint %q", cf.Config.Entrypoint)
	}
}

func TestBuildErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	broken := goPackage(t)
	writeFiles(t, broken, map[string]string{"main.go": "package main\n\nfunc main() { undefined() }\n"})
	for _, tc := range []struct{ source, want string }{
		{"", "no source"},
		{file, "neither a directory nor a Go main package"},
		{broken, "undefined"},
		{"no-such-dir", "no such file"},
	} {
		_, err := image.Build(context.Background(), image.BuildOptions{Source: tc.source})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("build %q: %v, want an error with %q", tc.source, err, tc.want)
		}
	}
}
