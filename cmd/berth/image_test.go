package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"berth/image"
	"berth/image/imagetest"
	"berth/images"
)

// berth runs the command tree in process and returns its output.
func berth(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand(args)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustBerth(t *testing.T, args ...string) string {
	t.Helper()
	out, err := berth(t, args...)
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// lastLayerFiles reads the files of an image's last layer.
func lastLayerFiles(t *testing.T, s *imagetest.Server, ref string) (map[string]string, []string, []string) {
	t.Helper()
	img, err := image.Pull(context.Background(), s.Rest, ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	if err := readTar(rc, files); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	return files, cf.Config.Entrypoint, cf.Config.Cmd
}

func TestImageBuildDirectory(t *testing.T) {
	s := imagetest.Start(t)
	base, err := images.Build(nil, []images.File{{Path: "/bin/busybox", Mode: 0o755, Data: []byte("bb")}}, images.Config{Entrypoint: []string{"/sbin/init"}, Cmd: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Registry.Put("busybox", base); err != nil {
		t.Fatal(err)
	}
	site := t.TempDir()
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>berth</h1>"), 0o644)
	out := mustBerth(t, "image", "build", site, "-t", "site:v1", "--dest", "/www", "--base", "busybox",
		"--cmd", "httpd -f -p 8080 -h /www", "--push", "--kubeconfig", s.Kubeconfig)
	if !strings.Contains(out, "pushed site:v1@sha256:") {
		t.Errorf("output: %s", out)
	}
	files, entrypoint, cmd := lastLayerFiles(t, s, "site:v1")
	if files["www/index.html"] != "<h1>berth</h1>" {
		t.Errorf("layer files %v", files)
	}
	if !slices.Equal(entrypoint, []string{"/sbin/init"}) || !slices.Equal(cmd, []string{"httpd", "-f", "-p", "8080", "-h", "/www"}) {
		t.Errorf("entrypoint %q cmd %q", entrypoint, cmd)
	}
	list, _ := s.Registry.List()
	if len(list) != 2 || list[1].Name() != "site:v1" {
		t.Errorf("registry holds %v", list)
	}

	out = mustBerth(t, "image", "ls", "--kubeconfig", s.Kubeconfig)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !slices.Equal(strings.Fields(lines[0]), []string{"IMAGE", "TAG", "DIGEST", "SIZE", "CREATED"}) {
		t.Fatalf("ls:\n%s", out)
	}
	row := strings.Fields(lines[2])
	if len(row) < 5 || row[0] != "site" || row[1] != "v1" || row[2] != list[1].Digest[:len("sha256:")+12] || row[3] != humanSize(list[1].Size) || !strings.HasSuffix(lines[2], "ago") {
		t.Errorf("ls row %q, want site v1 %s %s", lines[2], list[1].Digest, humanSize(list[1].Size))
	}
	if f := strings.Fields(lines[1]); f[0] != "busybox" || f[1] != "latest" {
		t.Errorf("ls row %q", lines[1])
	}
	out = mustBerth(t, "image", "ls", "--no-trunc", "--kubeconfig", s.Kubeconfig)
	if !strings.Contains(out, list[1].Digest) {
		t.Errorf("ls --no-trunc:\n%s", out)
	}
}

func TestImageBuildGoPackage(t *testing.T) {
	s := imagetest.Start(t)
	pkg := filepath.Join(t.TempDir(), "greeter")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/greeter\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "main.go"), []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644)
	archive := filepath.Join(t.TempDir(), "greeter.tar")
	out := mustBerth(t, "image", "build", pkg, "-t", "greeter:v1", "--push", "-o", archive, "--kubeconfig", s.Kubeconfig)
	files, entrypoint, _ := lastLayerFiles(t, s, "greeter:v1")
	if !strings.HasPrefix(files["app/greeter"], "\x7fELF") {
		t.Errorf("no program at /app/greeter: %v", len(files["app/greeter"]))
	}
	if !slices.Equal(entrypoint, []string{"/app/greeter"}) {
		t.Errorf("entrypoint %q", entrypoint)
	}
	// The archive holds the same image, by digest.
	a, err := image.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, _ := a.Images[0].Digest()
	if !strings.Contains(out, "pushed greeter:v1@"+d.String()) {
		t.Errorf("archive has %s; output:\n%s", d, out)
	}
}

func TestImagePushAndImport(t *testing.T) {
	s := imagetest.Start(t)
	dir := t.TempDir()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	saved := filepath.Join(dir, "saved.tar")
	if err := image.Save(saved, "origin/app:v3", img); err != nil {
		t.Fatal(err)
	}
	out := mustBerth(t, "image", "push", saved, "-t", "app:v1", "--kubeconfig", s.Kubeconfig)
	if !strings.Contains(out, "pushed app:v1@"+want.String()) {
		t.Errorf("push output %q, want digest %s", out, want)
	}
	// import takes the archive's own name.
	mustBerth(t, "image", "import", saved, "--kubeconfig", s.Kubeconfig)

	// A docker save tarball (the older format).
	legacy := filepath.Join(dir, "legacy.tar")
	tag, _ := name.NewTag("example.com/tools/x:2")
	if err := tarball.WriteToFile(legacy, tag, img); err != nil {
		t.Fatal(err)
	}
	a, err := image.Open(legacy)
	if err != nil {
		t.Fatal(err)
	}
	legacyDigest, _ := a.Images[0].Digest()
	a.Close()
	out = mustBerth(t, "image", "import", legacy, "--kubeconfig", s.Kubeconfig)
	if !strings.Contains(out, "pushed example.com/tools/x:2@"+legacyDigest.String()) {
		t.Errorf("import output %q", out)
	}

	list, _ := s.Registry.List()
	got := map[string]string{}
	for _, i := range list {
		got[i.Name()] = i.Digest
	}
	for n, d := range map[string]string{"app:v1": want.String(), "origin/app:v3": want.String(), "tools/x:2": legacyDigest.String()} {
		if got[n] != d {
			t.Errorf("%s: %q, want %s (registry: %v)", n, got[n], d, got)
		}
	}
}

func TestImageKubeconfigDefaults(t *testing.T) {
	s := imagetest.Start(t)
	t.Setenv("KUBECONFIG", s.Kubeconfig)
	if out := mustBerth(t, "image", "ls"); !strings.HasPrefix(out, "IMAGE") {
		t.Errorf("ls with $KUBECONFIG: %q", out)
	}
	dataDir := t.TempDir()
	data, _ := os.ReadFile(s.Kubeconfig)
	os.WriteFile(filepath.Join(dataDir, "admin.kubeconfig"), data, 0o600)
	t.Setenv("KUBECONFIG", "")
	if out := mustBerth(t, "image", "ls", "--data-dir", dataDir); !strings.HasPrefix(out, "IMAGE") {
		t.Errorf("ls with --data-dir: %q", out)
	}
	if _, err := berth(t, "image", "ls", "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("ls without a kubeconfig: %v", err)
	}
}

func TestImageCommandErrors(t *testing.T) {
	s := imagetest.Start(t)
	dir := t.TempDir()
	unnamed := filepath.Join(dir, "unnamed.tar")
	img, _ := random.Image(100, 1)
	if err := tarball.Write(nil, img, mustCreate(t, unnamed)); err != nil {
		t.Fatal(err)
	}
	kc := []string{"--kubeconfig", s.Kubeconfig}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "build", dir, "--push"}, "-t NAME"},
		{[]string{"image", "build", dir, "-t", "x:1"}, "--push"},
		{[]string{"image", "build", dir, "-t", "x:1", "--push", "--entrypoint", "[bad"}, "JSON"},
		{[]string{"image", "build", dir, "-t", "x:1", "--push", "--base", "nosuch:1"}, "base image"},
		{[]string{"image", "push", unnamed}, "-t NAME"},
		{[]string{"image", "import", unnamed}, "give -t NAME"},
		{[]string{"image", "push", filepath.Join(dir, "missing.tar"), "-t", "x:1"}, "no such file"},
	} {
		out, err := berth(t, append(tc.args, kc...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("berth %s: %v (%s), want an error with %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
	if list, _ := s.Registry.List(); len(list) != 0 {
		t.Errorf("failed commands stored %v", list)
	}
}

func mustCreate(t *testing.T, file string) *os.File {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readTar(r io.Reader, files map[string]string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files[h.Name] = string(data)
	}
}
