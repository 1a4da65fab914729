package integration

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const deploymentJSON = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"NAME"},"spec":{REPLICAS"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`

func deploymentBody(name, extraSpec string) []byte {
	return []byte(strings.NewReplacer("NAME", name, "REPLICAS", extraSpec).Replace(deploymentJSON))
}

// TestBadInput sends malformed and invalid requests and checks the answer
// and that nothing is stored.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	c := httpClient(t, s)
	cmPath := "/api/v1/namespaces/" + ns + "/configmaps"
	depPath := "/apis/apps/v1/namespaces/" + ns + "/deployments"

	t.Run("MalformedJSON", func(t *testing.T) {
		r := do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, "")
		r = do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":1}}`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, `ConfigMap in version "v1" cannot be handled as a ConfigMap: `)
		r = do(t, c, s, "POST", cmPath, "application/json", nil)
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, "")
	})

	t.Run("WrongKindOrVersion", func(t *testing.T) {
		r := do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, "")
		r = do(t, c, s, "POST", depPath, "application/json", []byte(strings.Replace(string(deploymentBody("x", "")), "apps/v1", "apps/v1beta1", 1)))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, "")
	})

	t.Run("UnknownResourceOrVersion", func(t *testing.T) {
		for _, p := range []string{
			"/api/v1/namespaces/" + ns + "/foos",
			"/api/v2/namespaces/" + ns + "/configmaps",
			"/apis/apps/v2/namespaces/" + ns + "/deployments",
			"/apis/example.com/v1/widgets",
			"/apis/apps/v1/namespaces/" + ns + "/deployments/x/foo",
			"/api/v1/configmaps/x",
		} {
			r := do(t, c, s, "GET", p, "", nil)
			if r.code != 404 {
				t.Errorf("GET %s: HTTP %d, want 404", p, r.code)
				continue
			}
			expectRaw(t, r, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource")
		}
		r := do(t, c, s, "POST", "/apis/apps/v2/namespaces/"+ns+"/deployments", "application/json", deploymentBody("x", ""))
		expectRaw(t, r, 404, metav1.StatusReasonNotFound, "")
	})

	t.Run("TooLarge", func(t *testing.T) {
		big := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 3*1024*1024+10) + `"}}`)
		r := do(t, c, s, "POST", cmPath, "application/json", big)
		expectRaw(t, r, 413, metav1.StatusReasonRequestEntityTooLarge, "limit is 3145728")
		// Without a Content-Length (chunked).
		req, err := http.NewRequestWithContext(ctxFor(t), "POST", s.Rest.Host+cmPath, io.MultiReader(bytes.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked body over 3 MiB: HTTP %d, want 413", resp.StatusCode)
		}
	})

	t.Run("UnsupportedContentType", func(t *testing.T) {
		r := do(t, c, s, "POST", cmPath, "text/plain", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`))
		expectRaw(t, r, 415, metav1.StatusReasonUnsupportedMediaType, "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
		// YAML is a supported body.
		r = do(t, c, s, "POST", cmPath, "application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n"))
		expectRaw(t, r, 201, "", "")
		// An Accept nobody serves is 406.
		req, _ := http.NewRequestWithContext(ctxFor(t), "GET", s.Rest.Host+cmPath, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 406 {
			t.Errorf("Accept: text/html: HTTP %d, want 406", resp.StatusCode)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		r := do(t, c, s, "POST", depPath, "application/json", deploymentBody("bad", `"replicas":-1,`))
		expectRaw(t, r, 422, metav1.StatusReasonInvalid, `Deployment.apps "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`)
		if r.status != nil {
			d := r.status.Details
			if d == nil || d.Name != "bad" || d.Group != "apps" || d.Kind != "Deployment" {
				t.Errorf("details %+v, want name bad group apps kind Deployment", d)
			} else {
				expectCause(t, *r.status, metav1.CauseTypeFieldValueInvalid, "spec.replicas", "must be greater than or equal to 0")
			}
		}
		// Several errors are all listed.
		body := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad2"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c"}]}}}}`)
		r = do(t, c, s, "POST", depPath, "application/json", body)
		expectRaw(t, r, 422, metav1.StatusReasonInvalid, `Deployment.apps "bad2" is invalid`)
		if r.status != nil {
			expectCause(t, *r.status, metav1.CauseTypeFieldValueRequired, "spec.template.spec.containers[0].image", "Required value")
			expectCause(t, *r.status, metav1.CauseTypeFieldValueInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`")
		}
		r = do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"UPPER"}}`))
		expectRaw(t, r, 422, metav1.StatusReasonInvalid, `ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER"`)
	})

	t.Run("FieldValidation", func(t *testing.T) {
		r := do(t, c, s, "POST", depPath+"?fieldValidation=Strict", "application/json", deploymentBody("strict", `"foo":1,`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, `strict decoding error: unknown field "spec.foo"`)
		// Kubernetes' decode errors name the kind (transformDecodeError).
		if want := `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo"`; r.status != nil && r.status.Message != want {
			t.Errorf("strict message:\n got  %q\n want %q", r.status.Message, want)
		}
		r = do(t, c, s, "POST", cmPath+"?fieldValidation=Strict", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, `strict decoding error: duplicate field "data.a"`)

		r = do(t, c, s, "POST", depPath+"?fieldValidation=Warn", "application/json", deploymentBody("warn", `"foo":1,`))
		expectRaw(t, r, 201, "", "")
		if w := r.header.Values("Warning"); len(w) != 1 || w[0] != `299 - "unknown field \"spec.foo\""` {
			t.Errorf("Warning headers %q, want [299 - \"unknown field \\\"spec.foo\\\"\"]", w)
		}
		// Warn is the default.
		r = do(t, c, s, "POST", depPath, "application/json", deploymentBody("default", `"foo":1,`))
		expectRaw(t, r, 201, "", "")
		if w := r.header.Values("Warning"); len(w) != 1 {
			t.Errorf("Warning headers %q with the default fieldValidation, want one", w)
		}
		r = do(t, c, s, "POST", depPath+"?fieldValidation=Ignore", "application/json", deploymentBody("ignore", `"foo":1,`))
		expectRaw(t, r, 201, "", "")
		if w := r.header.Values("Warning"); len(w) != 0 {
			t.Errorf("Warning headers %q with fieldValidation=Ignore", w)
		}
		r = do(t, c, s, "POST", depPath+"?fieldValidation=Bogus", "application/json", deploymentBody("bogus", ""))
		expectRaw(t, r, 422, metav1.StatusReasonInvalid, `CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"`)
		// Strict applies to patches too.
		r = do(t, c, s, "PATCH", depPath+"/warn?fieldValidation=Strict", "application/merge-patch+json", []byte(`{"spec":{"bar":1}}`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, `strict decoding error: unknown field "spec.bar"`)
	})

	t.Run("NameMismatch", func(t *testing.T) {
		r := do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"real"}}`))
		expectRaw(t, r, 201, "", "")
		r = do(t, c, s, "PUT", cmPath+"/real", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`))
		expectRaw(t, r, 400, metav1.StatusReasonBadRequest, "the name of the object (other) does not match the name on the URL (real)")
		// PUT to a missing configmap is 404 (no create on update).
		r = do(t, c, s, "PUT", cmPath+"/missing", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"missing"}}`))
		expectRaw(t, r, 404, metav1.StatusReasonNotFound, `configmaps "missing" not found`)
		// POST without a name.
		r = do(t, c, s, "POST", cmPath, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`))
		expectRaw(t, r, 422, metav1.StatusReasonInvalid, "")
		if r.status != nil {
			expectCause(t, *r.status, metav1.CauseTypeFieldValueRequired, "metadata.name", "name or generateName is required")
		}
	})

	t.Run("AlreadyExists", func(t *testing.T) {
		body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"twice"}}`)
		expectRaw(t, do(t, c, s, "POST", cmPath, "application/json", body), 201, "", "")
		r := do(t, c, s, "POST", cmPath, "application/json", body)
		expectRaw(t, r, 409, metav1.StatusReasonAlreadyExists, `configmaps "twice" already exists`)
		if r.status != nil && (r.status.Details == nil || r.status.Details.Name != "twice" || r.status.Details.Kind != "configmaps") {
			t.Errorf("details %+v", r.status.Details)
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		r := do(t, c, s, "PUT", cmPath, "application/json", []byte(`{}`))
		if r.code != 405 {
			t.Errorf("PUT on a collection: HTTP %d, want 405", r.code)
		}
		r = do(t, c, s, "POST", cmPath+"/real", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sneaky"}}`))
		if r.code != 405 {
			t.Errorf("POST on an object: HTTP %d, want 405", r.code)
		}
	})

	// Nothing was stored by the refused requests.
	list := do(t, c, s, "GET", cmPath, "", nil)
	for _, bad := range []string{`"name":"x"`, `"name":"big"`, `"name":"UPPER"`, `"name":"dup"`, `"name":"other"`, `"name":"missing"`, `"name":"sneaky"`} {
		if bytes.Contains(list.body, []byte(bad)) {
			t.Errorf("a refused request stored %s", bad)
		}
	}
	deps := do(t, c, s, "GET", depPath, "", nil)
	for _, bad := range []string{`"name":"bad"`, `"name":"bad2"`, `"name":"strict"`, `"name":"bogus"`} {
		if bytes.Contains(deps.body, []byte(bad)) {
			t.Errorf("a refused request stored %s", bad)
		}
	}
	if !bytes.Contains(deps.body, []byte(`"name":"warn"`)) {
		t.Error("the fieldValidation=Warn deployment was not stored")
	}
}
