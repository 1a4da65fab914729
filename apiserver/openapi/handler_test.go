package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
)

// fakeResources is a resource list that can change and counts its calls.
type fakeResources struct {
	mu    sync.Mutex
	list  []Resource
	calls int
}

func (f *fakeResources) get() []Resource {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]Resource(nil), f.list...)
}

func (f *fakeResources) add(r Resource) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, r)
}

func newTestHandler(t *testing.T) (*Handler, *fakeResources) {
	t.Helper()
	f := &fakeResources{list: testResources()}
	return New(testScheme(t), f.get), f
}

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type v3Index struct {
	Paths map[string]struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	} `json:"paths"`
}

func readIndex(t *testing.T, h http.Handler) v3Index {
	t.Helper()
	rec := get(t, h, "/openapi/v3")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %d %s", rec.Code, rec.Body)
	}
	var idx v3Index
	if err := json.Unmarshal(rec.Body.Bytes(), &idx); err != nil {
		t.Fatalf("index: %v", err)
	}
	return idx
}

func TestBuildsLazily(t *testing.T) {
	h, f := newTestHandler(t)
	if f.calls != 0 {
		t.Fatalf("New listed resources %d times; it must wait for a request", f.calls)
	}
	readIndex(t, h)
	get(t, h, "/openapi/v2")
	if f.calls != 1 {
		t.Errorf("resources listed %d times for one generation, want 1", f.calls)
	}
}

func TestV3Index(t *testing.T) {
	h, _ := newTestHandler(t)
	idx := readIndex(t, h)
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/networking.k8s.io/v1", "api", "apis", "apis/apps", "version"} {
		e, ok := idx.Paths[key]
		if !ok {
			t.Errorf("index lacks %s", key)
			continue
		}
		prefix := "/openapi/v3/" + key + "?hash="
		if !strings.HasPrefix(e.ServerRelativeURL, prefix) {
			t.Errorf("%s: url %q", key, e.ServerRelativeURL)
			continue
		}
		hash := strings.TrimPrefix(e.ServerRelativeURL, prefix)
		rec := get(t, h, e.ServerRelativeURL)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", key, rec.Code)
			continue
		}
		if want := fmt.Sprintf("%X", sha512.Sum512(rec.Body.Bytes())); hash != want {
			t.Errorf("%s: hash %s is not the document's sha512 %s", key, hash, want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, immutable" {
			t.Errorf("%s: Cache-Control %q with the current hash", key, cc)
		}
		if et := rec.Header().Get("Etag"); et != `"`+hash+`"` {
			t.Errorf("%s: Etag %q", key, et)
		}
	}
}

func TestV3DocumentCaching(t *testing.T) {
	h, _ := newTestHandler(t)
	url := readIndex(t, h).Paths["apis/apps/v1"].ServerRelativeURL
	hash := url[strings.Index(url, "hash=")+5:]

	rec := get(t, h, "/openapi/v3/apis/apps/v1")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "" {
		t.Errorf("without hash: %d, Cache-Control %q (want 200 and none)", rec.Code, rec.Header().Get("Cache-Control"))
	}
	rec = get(t, h, "/openapi/v3/apis/apps/v1?hash=0123")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != url {
		t.Errorf("stale hash: %d to %q, want 301 to %q", rec.Code, rec.Header().Get("Location"), url)
	}
	rec = get(t, h, url, "If-None-Match", `"`+hash+`"`)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the current etag: %d, want 304", rec.Code)
	}
	if rec := get(t, h, "/openapi/v3/apis/nothing/v1"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown group version: %d, want 404", rec.Code)
	}
	if rec := get(t, h, url, "Accept", "text/html"); rec.Code != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d, want 406", rec.Code)
	}
}

func TestV3Protobuf(t *testing.T) {
	h, _ := newTestHandler(t)
	rec := get(t, h, "/openapi/v3/apis/apps/v1", "Accept", mimeV3ProtobufDeprecated)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != mimeV3Protobuf {
		t.Fatalf("protobuf: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc := &openapi_v3.Document{}
	if err := proto.Unmarshal(rec.Body.Bytes(), doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	found := false
	for _, s := range doc.GetComponents().GetSchemas().GetAdditionalProperties() {
		found = found || s.GetName() == "io.k8s.api.apps.v1.Deployment"
	}
	if !found {
		t.Error("protobuf document lacks io.k8s.api.apps.v1.Deployment")
	}
}

func TestGroupVersionDocument(t *testing.T) {
	h, _ := newTestHandler(t)
	rec := get(t, h, "/openapi/v3/apis/apps/v1")
	var doc spec3.OpenAPI
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "3.0.0" {
		t.Errorf("openapi version %q", doc.Version)
	}
	for _, name := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.Container", "io.k8s.api.autoscaling.v1.Scale",
		"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("components lack %s", name)
		}
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.batch.v1.Job"]; ok {
		t.Error("apps/v1 document carries batch/v1 Job, which none of its paths refers to")
	}
	for path := range doc.Paths.Paths {
		if !strings.HasPrefix(path, "/apis/apps/v1/") {
			t.Errorf("apps/v1 document has path %s", path)
		}
	}
	item := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
	if item == nil || item.Patch == nil {
		t.Fatal("no patch operation for a deployment")
	}
	patch := item.Patch
	if patch.OperationId != "patchAppsV1NamespacedDeployment" || patch.Extensions[extAction] != "patch" {
		t.Errorf("patch: id %q action %v", patch.OperationId, patch.Extensions[extAction])
	}
	var params []string
	for _, p := range patch.Parameters {
		params = append(params, p.Name)
	}
	if strings.Join(params, ",") != "dryRun,fieldManager,fieldValidation,force" {
		t.Errorf("patch parameters %v", params)
	}
	if _, ok := patch.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
		t.Errorf("patch body types %v", patch.RequestBody.Content)
	}
	if r := patch.Responses.StatusCodeResponses[200]; r == nil || r.Content[mimeJSON].Schema.Ref.String() != "#/components/schemas/io.k8s.api.apps.v1.Deployment" {
		t.Errorf("patch 200 response %+v", r)
	}
}

func TestV2(t *testing.T) {
	h, _ := newTestHandler(t)
	rec := get(t, h, "/openapi/v2")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != mimeJSON {
		t.Fatalf("json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		Swagger     string                     `json:"swagger"`
		Definitions map[string]json.RawMessage `json:"definitions"`
		Paths       map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Definitions["io.k8s.api.apps.v1.Deployment"] == nil || doc.Paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"] == nil {
		t.Errorf("v2 document: swagger %q, %d definitions, %d paths", doc.Swagger, len(doc.Definitions), len(doc.Paths))
	}

	rec = get(t, h, "/openapi/v2", "Accept", mimeV2ProtobufDeprecated, "Accept-Encoding", "gzip")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != mimeV2Protobuf || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("protobuf: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	pb := &openapi_v2.Document{}
	if err := proto.Unmarshal(raw, pb); err != nil {
		t.Fatalf("decode protobuf: %v", err)
	}
	names := map[string]bool{}
	for _, d := range pb.GetDefinitions().GetAdditionalProperties() {
		names[d.GetName()] = true
	}
	for _, want := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.Pod", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"} {
		if !names[want] {
			t.Errorf("protobuf document lacks definition %s", want)
		}
	}
}

func TestInvalidate(t *testing.T) {
	h, f := newTestHandler(t)
	before := readIndex(t, h)
	h.Invalidate()
	if again := readIndex(t, h); !reflect.DeepEqual(again, before) {
		t.Fatalf("rebuilding the same resources changed the index:\n%v\n%v", before, again)
	}
	if _, ok := before.Paths["apis/stable.example.com/v1"]; ok {
		t.Fatal("custom group present before it is added")
	}
	gv := schema.GroupVersion{Group: "stable.example.com", Version: "v1"}
	crd := Resource{GVK: gv.WithKind("CronTab"), ListGVK: gv.WithKind("CronTabList"), Resource: "crontabs", Namespaced: true, Verbs: crud(),
		Schema: cronTabSchema()}
	f.add(crd)
	if _, ok := readIndex(t, h).Paths["apis/stable.example.com/v1"]; ok {
		t.Fatal("documents changed before Invalidate")
	}
	h.Invalidate()
	after := readIndex(t, h)
	if _, ok := after.Paths["apis/stable.example.com/v1"]; !ok {
		t.Fatal("custom group missing after Invalidate")
	}
	if after.Paths["apis/apps/v1"] != before.Paths["apis/apps/v1"] {
		t.Errorf("apps/v1 hash changed although apps/v1 did not: %v -> %v", before.Paths["apis/apps/v1"], after.Paths["apis/apps/v1"])
	}
	rec := get(t, h, after.Paths["apis/stable.example.com/v1"].ServerRelativeURL)
	var doc spec3.OpenAPI
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ct := doc.Components.Schemas["com.example.stable.v1.CronTab"]
	if ct == nil || ct.Properties["spec"].Properties["cronSpec"].Type[0] != "string" || ct.Properties["metadata"].AllOf == nil {
		t.Fatalf("CronTab schema %+v", ct)
	}
	if ct.Properties["spec"].Properties["port"].AnyOf == nil {
		t.Error("v3 lost the anyOf of a custom schema")
	}
	// The v2 document stays parseable with the custom kind in it.
	pbRec := get(t, h, "/openapi/v2", "Accept", mimeV2Protobuf)
	pb := &openapi_v2.Document{}
	if err := proto.Unmarshal(pbRec.Body.Bytes(), pb); pbRec.Code != http.StatusOK || err != nil {
		t.Fatalf("v2 protobuf with a custom kind: %d %v %s", pbRec.Code, err, pbRec.Body)
	}
	found := false
	for _, d := range pb.GetDefinitions().GetAdditionalProperties() {
		found = found || d.GetName() == "com.example.stable.v1.CronTabList"
	}
	if !found {
		t.Error("v2 lacks com.example.stable.v1.CronTabList")
	}
	patch := doc.Paths.Paths["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"].Patch
	if _, ok := patch.RequestBody.Content["application/strategic-merge-patch+json"]; ok {
		t.Error("custom resources do not take strategic merge patches")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h, _ := newTestHandler(t)
	req := httptest.NewRequest(http.MethodPost, "/openapi/v2", bytes.NewReader(nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		accept string
		want   string
		ok     bool
	}{
		{"", mimeJSON, true},
		{"*/*", mimeJSON, true},
		{"application/json, */*", mimeJSON, true},
		{mimeV2ProtobufDeprecated, mimeV2ProtobufDeprecated, true},
		{"application/json;q=0.5, " + mimeV2Protobuf, mimeV2Protobuf, true},
		{"text/html", "", false},
		{"application/json;q=0", "", false},
	}
	for _, c := range cases {
		got, ok := negotiate(c.accept, mimeJSON, mimeV2Protobuf, mimeV2ProtobufDeprecated)
		if got != c.want || ok != c.ok {
			t.Errorf("negotiate(%q) = %q, %v; want %q, %v", c.accept, got, ok, c.want, c.ok)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	h, _ := newTestHandler(t)
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for _, target := range []string{"/openapi/v3", "/openapi/v3/apis/apps/v1", "/openapi/v2", "/openapi/v3/api/v1"} {
				codes <- get(t, h, target, "Accept-Encoding", "gzip").Code
			}
			if i%3 == 0 {
				h.Invalidate()
			}
		}(i)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d under concurrent requests", c)
		}
	}
}
