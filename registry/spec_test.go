package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// do sends one request to the registry's handler.
func do(t *testing.T, reg *Registry, method, path string, header map[string]string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	reg.ServeHTTP(w, req)
	return w
}

// errorCode reads the code of a spec error body.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		return fmt.Sprintf("(body %q)", w.Body.String())
	}
	return body.Errors[0].Code
}

// fixture is a registry holding repo:v1, an image of one layer.
type fixture struct {
	reg                             *Registry
	dir                             string
	layer, config, manifest         []byte
	layerD, configD, manifestD, tag string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), tag: "v1"}
	var err error
	if f.reg, err = New(Config{Dir: f.dir}); err != nil {
		t.Fatal(err)
	}
	f.layer = bytes.Repeat([]byte("0123456789"), 100)
	f.config = []byte(`{"architecture":"amd64","os":"linux","created":"2024-05-06T07:08:09Z","rootfs":{"type":"layers","diff_ids":[]}}`)
	f.layerD, f.configD = sha(f.layer), sha(f.config)
	for _, b := range [][]byte{f.layer, f.config} {
		w := do(t, f.reg, "POST", "/v2/repo/blobs/uploads/?digest="+sha(b), nil, b)
		if w.Code != http.StatusCreated {
			t.Fatalf("monolithic upload: %d %s", w.Code, w.Body)
		}
	}
	// Odd spacing and key order: stored and served byte for byte.
	f.manifest = []byte(fmt.Sprintf(`{
   "schemaVersion": 2,   "mediaType": "%s",
   "config": {"size": %d, "mediaType": "application/vnd.docker.container.image.v1+json", "digest": "%s"},
   "layers": [ {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "%s", "size": %d} ]
}`, types.DockerManifestSchema2, len(f.config), f.configD, f.layerD, len(f.layer)))
	f.manifestD = sha(f.manifest)
	w := do(t, f.reg, "PUT", "/v2/repo/manifests/v1", map[string]string{"Content-Type": string(types.DockerManifestSchema2)}, f.manifest)
	if w.Code != http.StatusCreated || w.Header().Get("Docker-Content-Digest") != f.manifestD {
		t.Fatalf("put manifest: %d %s %v", w.Code, w.Body, w.Header())
	}
	return f
}

func TestSpecResponses(t *testing.T) {
	f := newFixture(t)
	zero := "sha256:" + strings.Repeat("0", 64)
	mediaDocker := map[string]string{"Content-Type": string(types.DockerManifestSchema2)}
	missingBlob := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"x","digest":"%s","size":3},"layers":[]}`, types.DockerManifestSchema2, zero))
	otherType := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"x","digest":"%s","size":%d},"layers":[]}`, types.OCIManifestSchema1, f.configD, len(f.config)))
	for _, tc := range []struct {
		name         string
		method, path string
		header       map[string]string
		body         []byte
		status       int
		code         string // error code, if an error
		check        func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{name: "ping", method: "GET", path: "/v2/", status: 200, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Header().Get("Docker-Distribution-API-Version") != "registry/2.0" {
				t.Errorf("no API version header: %v", w.Header())
			}
		}},
		{name: "manifest by tag", method: "GET", path: "/v2/repo/manifests/v1", status: 200, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if !bytes.Equal(w.Body.Bytes(), f.manifest) {
				t.Errorf("manifest re-encoded:\n%s", w.Body)
			}
			h := w.Header()
			if h.Get("Content-Type") != string(types.DockerManifestSchema2) || h.Get("Docker-Content-Digest") != f.manifestD {
				t.Errorf("headers %v", h)
			}
		}},
		{name: "manifest as a mirror asks", method: "GET", path: "/v2/repo/manifests/v1?ns=docker.io", status: 200},
		{name: "manifest head by digest", method: "HEAD", path: "/v2/repo/manifests/" + f.manifestD, status: 200, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Header().Get("Content-Length") != fmt.Sprint(len(f.manifest)) || w.Body.Len() != 0 {
				t.Errorf("HEAD: length %q, body %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
			}
		}},
		{name: "blob range", method: "GET", path: "/v2/repo/blobs/" + f.layerD, header: map[string]string{"Range": "bytes=5-14"}, status: 206, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Body.String() != "5678901234" {
				t.Errorf("range body %q", w.Body)
			}
		}},
		{name: "blob range beyond the end", method: "GET", path: "/v2/repo/blobs/" + f.layerD, header: map[string]string{"Range": "bytes=5000-"}, status: 416},
		{name: "blob head", method: "HEAD", path: "/v2/repo/blobs/" + f.layerD, status: 200, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Header().Get("Content-Length") != "1000" || w.Header().Get("Docker-Content-Digest") != f.layerD {
				t.Errorf("headers %v", w.Header())
			}
		}},
		{name: "blob unknown", method: "GET", path: "/v2/repo/blobs/" + zero, status: 404, code: codeBlobUnknown},
		{name: "blob head unknown", method: "HEAD", path: "/v2/repo/blobs/" + zero, status: 404, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Body.Len() != 0 {
				t.Errorf("HEAD has a body: %s", w.Body)
			}
		}},
		{name: "blob of another repository", method: "GET", path: "/v2/other/blobs/" + f.layerD, status: 404, code: codeBlobUnknown},
		{name: "blob sha512 unknown", method: "GET", path: "/v2/repo/blobs/sha512:" + strings.Repeat("a", 128), status: 404, code: codeBlobUnknown},
		{name: "blob digest invalid", method: "GET", path: "/v2/repo/blobs/sha256:xyz", status: 400, code: codeDigestInvalid},
		{name: "manifest unknown", method: "GET", path: "/v2/repo/manifests/nope", status: 404, code: codeManifestUnknown},
		{name: "manifest unknown digest", method: "GET", path: "/v2/repo/manifests/" + zero, status: 404, code: codeManifestUnknown},
		{name: "repository unknown", method: "GET", path: "/v2/nosuch/manifests/latest", status: 404, code: codeNameUnknown},
		{name: "tags of unknown repository", method: "GET", path: "/v2/nosuch/tags/list", status: 404, code: codeNameUnknown},
		{name: "name invalid", method: "GET", path: "/v2/Bad_Name/tags/list", status: 400, code: codeNameInvalid},
		{name: "name traversal", method: "GET", path: "/v2/a/../b/tags/list", status: 400, code: codeNameInvalid},
		{name: "tags paginated", method: "GET", path: "/v2/repo/tags/list?n=0", status: 200, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if strings.TrimSpace(w.Body.String()) != `{"name":"repo","tags":[]}` {
				t.Errorf("body %s", w.Body)
			}
		}},
		{name: "pagination invalid", method: "GET", path: "/v2/repo/tags/list?n=x", status: 400, code: codePaginationInvalid},
		{name: "manifest blob unknown", method: "PUT", path: "/v2/repo/manifests/bad", header: mediaDocker, body: missingBlob, status: 400, code: codeManifestBlobUnknown},
		{name: "manifest digest mismatch", method: "PUT", path: "/v2/repo/manifests/" + zero, header: mediaDocker, body: f.manifest, status: 400, code: codeDigestInvalid},
		{name: "manifest not JSON", method: "PUT", path: "/v2/repo/manifests/bad", header: mediaDocker, body: []byte("{"), status: 400, code: codeManifestInvalid},
		{name: "manifest type mismatch", method: "PUT", path: "/v2/repo/manifests/bad", header: mediaDocker, body: otherType, status: 400, code: codeManifestInvalid},
		{name: "manifest schema1", method: "PUT", path: "/v2/repo/manifests/bad", header: map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, body: []byte(`{"schemaVersion":1}`), status: 400, code: codeManifestInvalid},
		{name: "manifest tag invalid", method: "PUT", path: "/v2/repo/manifests/-bad", header: mediaDocker, body: f.manifest, status: 400, code: codeManifestInvalid},
		{name: "manifest too large", method: "PUT", path: "/v2/repo/manifests/big", header: mediaDocker, body: bytes.Repeat([]byte(" "), maxManifestSize+1), status: 413, code: codeSizeInvalid},
		{name: "upload digest mismatch", method: "POST", path: "/v2/repo/blobs/uploads/?digest=" + zero, body: []byte("abc"), status: 400, code: codeDigestInvalid},
		{name: "upload unknown", method: "PATCH", path: "/v2/repo/blobs/uploads/" + strings.Repeat("a", 32), body: []byte("abc"), status: 404, code: codeBlobUploadUnknown},
		{name: "upload id invalid", method: "PUT", path: "/v2/repo/blobs/uploads/..?digest=" + zero, status: 404, code: codeBlobUploadUnknown},
		{name: "mount of unknown blob starts an upload", method: "POST", path: "/v2/repo2/blobs/uploads/?mount=" + zero + "&from=repo", status: 202, check: func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.HasPrefix(w.Header().Get("Location"), "/v2/repo2/blobs/uploads/") {
				t.Errorf("Location %q", w.Header().Get("Location"))
			}
		}},
		{name: "mount from a repository without the blob", method: "POST", path: "/v2/repo2/blobs/uploads/?mount=" + f.layerD + "&from=nosuch", status: 202},
		{name: "delete unknown manifest", method: "DELETE", path: "/v2/repo/manifests/" + zero, status: 404, code: codeManifestUnknown},
		{name: "method not allowed", method: "POST", path: "/v2/repo/manifests/v1", status: 405, code: codeUnsupported},
		{name: "unknown endpoint", method: "GET", path: "/v2/repo/nothing", status: 404, code: codeNameInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, f.reg, tc.method, tc.path, tc.header, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code != "" {
				if got := errorCode(t, w); got != tc.code {
					t.Errorf("code %s, want %s", got, tc.code)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
	// Nothing of the refused pushes was stored.
	if w := do(t, f.reg, "GET", "/v2/repo/tags/list", nil, nil); strings.TrimSpace(w.Body.String()) != `{"name":"repo","tags":["v1"]}` {
		t.Errorf("tags after refused pushes: %s", w.Body)
	}
}

func TestChunkedUpload(t *testing.T) {
	f := newFixture(t)
	blob := []byte("first chunk|second chunk|last")
	w := do(t, f.reg, "POST", "/v2/repo/blobs/uploads/", nil, nil)
	if w.Code != http.StatusAccepted || w.Header().Get("Range") != "0-0" || w.Header().Get("Docker-Upload-UUID") == "" {
		t.Fatalf("start: %d %v", w.Code, w.Header())
	}
	loc := w.Header().Get("Location")
	steps := []struct {
		method, query, contentRange string
		body                        []byte
		status                      int
		rng                         string
	}{
		{"PATCH", "", "0-11", blob[:12], 202, "0-11"},
		{"PATCH", "", "5-9", blob[5:10], 416, ""},                // overlaps what is there
		{"PATCH", "", "20-24", blob[20:25], 416, ""},             // leaves a gap
		{"GET", "", "", nil, 204, "0-11"},                        // status
		{"PATCH", "", "12-24", blob[12:25], 202, "0-24"},         // in order
		{"PUT", "?digest=" + sha([]byte("x")), "", nil, 400, ""}, // wrong digest: upload kept
		{"PUT", "?digest=" + sha(blob), "", blob[25:], 201, ""},
	}
	for i, s := range steps {
		h := map[string]string{}
		if s.contentRange != "" {
			h["Content-Range"] = s.contentRange
		}
		w := do(t, f.reg, s.method, loc+s.query, h, s.body)
		if w.Code != s.status {
			t.Fatalf("step %d (%s %s): status %d, want %d: %s", i, s.method, s.contentRange, w.Code, s.status, w.Body)
		}
		if s.rng != "" && w.Header().Get("Range") != s.rng {
			t.Errorf("step %d: Range %q, want %q", i, w.Header().Get("Range"), s.rng)
		}
		if s.status == 201 && w.Header().Get("Location") != "/v2/repo/blobs/"+sha(blob) {
			t.Errorf("Location %q", w.Header().Get("Location"))
		}
	}
	if w := do(t, f.reg, "GET", "/v2/repo/blobs/"+sha(blob), nil, nil); w.Code != 200 || w.Body.String() != string(blob) {
		t.Errorf("blob: %d %q", w.Code, w.Body)
	}
	if w := do(t, f.reg, "GET", loc, nil, nil); w.Code != 404 {
		t.Errorf("finished upload still there: %d", w.Code)
	}
	// Cancel.
	w = do(t, f.reg, "POST", "/v2/repo/blobs/uploads/", nil, nil)
	loc = w.Header().Get("Location")
	if w := do(t, f.reg, "DELETE", loc, nil, nil); w.Code != http.StatusNoContent {
		t.Errorf("cancel: %d", w.Code)
	}
	if w := do(t, f.reg, "PATCH", loc, nil, []byte("x")); w.Code != 404 || errorCode(t, w) != codeBlobUploadUnknown {
		t.Errorf("cancelled upload: %d %s", w.Code, w.Body)
	}
}

func TestDeleteManifestAndTag(t *testing.T) {
	f := newFixture(t)
	h := map[string]string{"Content-Type": string(types.DockerManifestSchema2)}
	if w := do(t, f.reg, "PUT", "/v2/repo/manifests/v2", h, f.manifest); w.Code != 201 {
		t.Fatal(w.Body)
	}
	if w := do(t, f.reg, "DELETE", "/v2/repo/manifests/v2", nil, nil); w.Code != 202 {
		t.Fatalf("delete tag: %d %s", w.Code, w.Body)
	}
	if w := do(t, f.reg, "GET", "/v2/repo/manifests/v2", nil, nil); w.Code != 404 {
		t.Errorf("deleted tag: %d", w.Code)
	}
	if w := do(t, f.reg, "GET", "/v2/repo/manifests/v1", nil, nil); w.Code != 200 {
		t.Errorf("other tag gone: %d", w.Code)
	}
	if w := do(t, f.reg, "DELETE", "/v2/repo/manifests/"+f.manifestD, nil, nil); w.Code != 202 {
		t.Fatalf("delete manifest: %d %s", w.Code, w.Body)
	}
	for _, ref := range []string{"v1", f.manifestD} {
		if w := do(t, f.reg, "GET", "/v2/repo/manifests/"+ref, nil, nil); w.Code != 404 || errorCode(t, w) != codeManifestUnknown {
			t.Errorf("%s after delete: %d %s", ref, w.Code, w.Body)
		}
	}
	if w := do(t, f.reg, "GET", "/v2/repo/tags/list", nil, nil); strings.TrimSpace(w.Body.String()) != `{"name":"repo","tags":[]}` {
		t.Errorf("tags: %s", w.Body)
	}
	if w := do(t, f.reg, "DELETE", "/v2/repo/blobs/"+f.layerD, nil, nil); w.Code != 202 {
		t.Errorf("delete blob: %d", w.Code)
	}
	if w := do(t, f.reg, "GET", "/v2/repo/blobs/"+f.layerD, nil, nil); w.Code != 404 {
		t.Errorf("deleted blob: %d", w.Code)
	}
}

func TestReferrers(t *testing.T) {
	f := newFixture(t)
	empty := []byte("{}")
	if w := do(t, f.reg, "POST", "/v2/repo/blobs/uploads/?digest="+sha(empty), nil, empty); w.Code != 201 {
		t.Fatal(w.Body)
	}
	artifact := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sbom","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":%d},"annotations":{"a":"b"}}`,
		types.OCIManifestSchema1, sha(empty), types.DockerManifestSchema2, f.manifestD, len(f.manifest)))
	w := do(t, f.reg, "PUT", "/v2/repo/manifests/"+sha(artifact), map[string]string{"Content-Type": string(types.OCIManifestSchema1)}, artifact)
	if w.Code != 201 || w.Header().Get("OCI-Subject") != f.manifestD {
		t.Fatalf("put artifact: %d %v %s", w.Code, w.Header(), w.Body)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 1}, {"?artifactType=application/vnd.example.sbom", 1}, {"?artifactType=other", 0}} {
		w := do(t, f.reg, "GET", "/v2/repo/referrers/"+f.manifestD+tc.query, nil, nil)
		var idx struct {
			MediaType string
			Manifests []descriptor
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &idx) != nil || idx.MediaType != mediaOCIIndex || len(idx.Manifests) != tc.want {
			t.Fatalf("referrers%s: %d %s", tc.query, w.Code, w.Body)
		}
		if tc.query != "" && w.Header().Get("OCI-Filters-Applied") != "artifactType" {
			t.Errorf("referrers%s: filter not reported", tc.query)
		}
		if tc.want == 1 {
			d := idx.Manifests[0]
			if d.Digest != sha(artifact) || d.ArtifactType != "application/vnd.example.sbom" || d.Annotations["a"] != "b" || d.Size != int64(len(artifact)) {
				t.Errorf("referrer %+v", d)
			}
		}
	}
	do(t, f.reg, "DELETE", "/v2/repo/manifests/"+sha(artifact), nil, nil)
	w = do(t, f.reg, "GET", "/v2/repo/referrers/"+f.manifestD, nil, nil)
	if !strings.Contains(w.Body.String(), `"manifests":[]`) {
		t.Errorf("referrers after delete: %s", w.Body)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

// TestNothingTorn checks that interrupted writes leave no blob, and that a
// restart removes what a crash left in tmp/ and stale uploads.
func TestNothingTorn(t *testing.T) {
	f := newFixture(t)
	want := sha(bytes.Repeat([]byte("x"), 1<<20))
	req := httptest.NewRequest("POST", "/v2/repo/blobs/uploads/?digest="+want, &failingReader{n: 4096})
	w := httptest.NewRecorder()
	f.reg.ServeHTTP(w, req)
	if w.Code < 400 {
		t.Fatalf("interrupted upload answered %d", w.Code)
	}
	hexWant := strings.TrimPrefix(want, "sha256:")
	if _, err := os.Stat(filepath.Join(f.dir, "blobs", "sha256", hexWant)); !os.IsNotExist(err) {
		t.Errorf("torn blob stored: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp files left: %v", left)
	}
	// A crash mid-write, an old upload and a recent one.
	os.WriteFile(filepath.Join(f.dir, "tmp", "blob-123"), []byte("half"), 0o644)
	old := filepath.Join(f.dir, "uploads", strings.Repeat("b", 32))
	recent := filepath.Join(f.dir, "uploads", strings.Repeat("c", 32))
	os.WriteFile(old, []byte("old"), 0o644)
	os.WriteFile(recent, []byte("recent"), 0o644)
	long := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, long, long)
	reg, err := New(Config{Dir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(f.dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp files left after restart: %v", left)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("stale upload kept")
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent upload removed: %v", err)
	}
	// The content survives the restart.
	if w := do(t, reg, "GET", "/v2/repo/manifests/v1", nil, nil); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), f.manifest) {
		t.Errorf("after restart: %d", w.Code)
	}
}
