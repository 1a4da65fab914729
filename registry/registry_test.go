package registry

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// server is a registry behind an httptest server, recording requests.
type server struct {
	reg  *Registry
	host string
	dir  string

	mu       sync.Mutex
	requests []string // "METHOD path?query -> status"
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	reg, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{reg: reg, dir: dir}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		reg.ServeHTTP(rec, r)
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI()+" -> "+http.StatusText(rec.code))
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.host = srv.Listener.Addr().String()
	return s
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// seen returns the recorded requests containing every one of parts.
func (s *server) seen(parts ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
next:
	for _, r := range s.requests {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func (s *server) reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

func (s *server) ref(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s.host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomImage(t *testing.T, mt types.MediaType) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, mt)
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tarOf is a tar archive of one file.
func tarOf(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

func TestPushPullImage(t *testing.T) {
	for _, mt := range []types.MediaType{types.OCIManifestSchema1, types.DockerManifestSchema2} {
		t.Run(string(mt), func(t *testing.T) {
			s := startServer(t)
			img := randomImage(t, mt)
			want := digestOf(t, img)
			ref := s.ref(t, "team/app:v1")
			if err := remote.Write(ref, img); err != nil {
				t.Fatalf("push: %v", err)
			}
			for _, r := range []name.Reference{ref, s.ref(t, "team/app@"+want.String())} {
				got, err := remote.Image(r)
				if err != nil {
					t.Fatalf("pull %s: %v", r, err)
				}
				if d := digestOf(t, got); d != want {
					t.Errorf("pull %s: digest %s, want %s", r, d, want)
				}
				if err := validate.Image(got); err != nil {
					t.Errorf("pulled image %s is not valid: %v", r, err)
				}
			}
			desc, err := remote.Head(ref)
			if err != nil {
				t.Fatal(err)
			}
			if desc.MediaType != mt || desc.Digest != want {
				t.Errorf("HEAD: %s %s, want %s %s", desc.MediaType, desc.Digest, mt, want)
			}
			tags, err := remote.List(ref.Context())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(tags, ",") != "v1" {
				t.Errorf("tags %v, want [v1]", tags)
			}
		})
	}
}

func TestPushPullIndex(t *testing.T) {
	for _, mt := range []types.MediaType{types.OCIImageIndex, types.DockerManifestList} {
		t.Run(string(mt), func(t *testing.T) {
			s := startServer(t)
			idx, err := random.Index(1024, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			idx = mutate.IndexMediaType(idx, mt)
			want := digestOf(t, idx)
			ref := s.ref(t, "multi:latest")
			if err := remote.WriteIndex(ref, idx); err != nil {
				t.Fatalf("push: %v", err)
			}
			got, err := remote.Index(ref)
			if err != nil {
				t.Fatal(err)
			}
			if d := digestOf(t, got); d != want {
				t.Errorf("digest %s, want %s", d, want)
			}
			if err := validate.Index(got); err != nil {
				t.Errorf("pulled index is not valid: %v", err)
			}
			im, err := got.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			child, err := remote.Image(s.ref(t, "multi@"+im.Manifests[1].Digest.String()))
			if err != nil {
				t.Fatalf("pull child by digest: %v", err)
			}
			if d := digestOf(t, child); d != im.Manifests[1].Digest {
				t.Errorf("child digest %s, want %s", d, im.Manifests[1].Digest)
			}
		})
	}
}

// TestStreamedLayerIsChunkedUpload pushes a layer of unknown digest, which
// go-containerregistry uploads in PATCH requests finished by a PUT.
func TestStreamedLayerIsChunkedUpload(t *testing.T) {
	s := startServer(t)
	content := tarOf(t, "data.txt", bytes.Repeat([]byte("berth streams layers "), 50000))
	layer := stream.NewLayer(io.NopCloser(bytes.NewReader(content)))
	img, err := mutate.AppendLayers(randomImage(t, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := s.ref(t, "streamed:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := s.seen("PATCH /v2/streamed/blobs/uploads/", "Accepted"); len(got) == 0 {
		t.Errorf("no chunk was PATCHed: %v", s.seen("/blobs/uploads/"))
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("pulled image is not valid: %v", err)
	}
	ls, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	if !bytes.Equal(data, content) {
		t.Errorf("streamed layer came back as %d bytes, want %d", len(data), len(content))
	}
}

// TestCrossRepositoryMount copies an image between repositories: the
// client mounts its blobs instead of uploading them.
func TestCrossRepositoryMount(t *testing.T) {
	s := startServer(t)
	img := randomImage(t, types.OCIManifestSchema1)
	if err := remote.Write(s.ref(t, "src/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	src, err := remote.Image(s.ref(t, "src/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	s.reset()
	dst := s.ref(t, "dst/app:v1")
	// One upload at a time: go-containerregistry before v0.21.9 races
	// when it mounts while uploading (its issue #2391).
	if err := remote.Write(dst, src, remote.WithJobs(1)); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if got := s.seen("POST /v2/dst/app/blobs/uploads/?", "mount=", "from=src%2Fapp", "Created"); len(got) != 4 {
		t.Errorf("want 4 mounts (3 layers, config), got %v", s.seen("/v2/dst/"))
	}
	if got := s.seen("PATCH"); len(got) != 0 {
		t.Errorf("blobs uploaded instead of mounted: %v", got)
	}
	pulled, err := remote.Image(dst)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, pulled) != digestOf(t, img) {
		t.Error("copied image has another digest")
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("copied image is not valid: %v", err)
	}
}

func TestListPagination(t *testing.T) {
	s := startServer(t)
	img := randomImage(t, types.OCIManifestSchema1)
	for _, tag := range []string{"c", "a", "b", "d"} {
		if err := remote.Write(s.ref(t, "pages:"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	// remote.List follows the Link headers page by page.
	tags, err := remote.List(s.ref(t, "pages").Context(), remote.WithPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tags, ",") != "a,b,c,d" {
		t.Errorf("tags %v, want a,b,c,d", tags)
	}
	if got := s.seen("GET /v2/pages/tags/list?", "last=c"); len(got) != 1 {
		t.Errorf("second page not requested: %v", s.seen("tags/list"))
	}
	for _, repo := range []string{"x/y", "library/busybox"} {
		if err := remote.Write(s.ref(t, repo+":1"), img); err != nil {
			t.Fatal(err)
		}
	}
	reg, _ := name.NewRegistry(s.host, name.Insecure)
	repos, err := remote.Catalog(t.Context(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(repos, ",") != "library/busybox,pages,x/y" {
		t.Errorf("catalog %v", repos)
	}
}

func TestPutAndList(t *testing.T) {
	s := startServer(t)
	img := randomImage(t, types.OCIManifestSchema1)
	for _, n := range []string{"busybox", "quay.io/foo/bar:1.0", "berth/demo:v1"} {
		if err := s.reg.Put(n, img); err != nil {
			t.Fatalf("put %s: %v", n, err)
		}
	}
	// Pulled as a mirror requests them.
	for _, ref := range []string{"library/busybox:latest", "foo/bar:1.0", "berth/demo:v1"} {
		got, err := remote.Image(s.ref(t, ref))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		if digestOf(t, got) != digestOf(t, img) {
			t.Errorf("%s: digest changed", ref)
		}
	}
	list, err := s.reg.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range list {
		names = append(names, i.Name())
		if i.Digest != digestOf(t, img).String() {
			t.Errorf("%s: digest %s", i.Name(), i.Digest)
		}
		m, _ := img.Manifest()
		want := m.Config.Size
		for _, l := range m.Layers {
			want += l.Size
		}
		raw, _ := img.RawManifest()
		if want += int64(len(raw)); i.Size != want {
			t.Errorf("%s: size %d, want %d", i.Name(), i.Size, want)
		}
		cf, _ := img.ConfigFile()
		if !i.Created.Equal(cf.Created.Time) {
			t.Errorf("%s: created %v, want %v", i.Name(), i.Created, cf.Created.Time)
		}
	}
	if strings.Join(names, ",") != "berth/demo:v1,foo/bar:1.0,busybox:latest" {
		t.Errorf("list %v", names)
	}
}

func TestIsRead(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v2/", true},
		{"HEAD", "/v2/library/busybox/manifests/latest", true},
		{"GET", "/v2/x/blobs/sha256:abc", true},
		{"PUT", "/v2/x/manifests/latest", false},
		{"POST", "/v2/x/blobs/uploads/", false},
		{"PATCH", "/v2/x/blobs/uploads/abc", false},
		{"DELETE", "/v2/x/manifests/latest", false},
		{"GET", "/api/v1/pods", false},
		{"GET", "/v2x", false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if got := IsRead(r); got != tc.want {
			t.Errorf("IsRead(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, repo, ref string }{
		{"busybox", "library/busybox", "latest"},
		{"a:1", "library/a", "1"},
		{"nginx:1.27", "library/nginx", "1.27"},
		{"docker.io/library/nginx:1.27", "library/nginx", "1.27"},
		{"berth/demo:v1", "berth/demo", "v1"},
		{"quay.io/foo/bar", "foo/bar", "latest"},
		{"localhost:5000/x/y/z:t", "x/y/z", "t"},
		{"app@" + d, "library/app", d},
		{"Upper", "", ""},
		{"", "", ""},
	} {
		repo, ref, err := Split(tc.in)
		if repo != tc.repo || ref != tc.ref || (err != nil) != (tc.repo == "") {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q", tc.in, repo, ref, err, tc.repo, tc.ref)
		}
	}
}

// TestConcurrentPushes pushes the same content from several clients at
// once, to one tag and to others: every push succeeds and the content is
// whole.
func TestConcurrentPushes(t *testing.T) {
	s := startServer(t)
	img := randomImage(t, types.OCIManifestSchema1)
	tags := []string{"same", "same", "same", "a", "b", "c"}
	errs := make(chan error, len(tags))
	for _, tag := range tags {
		go func() { errs <- remote.Write(s.ref(t, "busy:"+tag), img) }()
	}
	for range tags {
		if err := <-errs; err != nil {
			t.Errorf("push: %v", err)
		}
	}
	for _, tag := range []string{"same", "a", "b", "c"} {
		got, err := remote.Image(s.ref(t, "busy:"+tag))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("%s: %v", tag, err)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(s.dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp files left: %v", left)
	}
}
