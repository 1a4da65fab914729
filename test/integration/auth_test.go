package integration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAuthentication checks that only health and version answer without
// credentials.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := start(t)
	anon := anonymousClient(t, s)

	for _, p := range []string{
		"/api/v1/namespaces",
		"/api/v1/namespaces/default/configmaps",
		"/apis/apps/v1/deployments",
		"/api",
		"/apis",
		"/api/v1",
		"/apis/apps/v1",
		"/openapi/v2",
		"/openapi/v3",
		"/metrics",
		"/does-not-exist",
	} {
		r := do(t, anon, s, "GET", p, "", nil)
		if r.code != 401 {
			t.Errorf("anonymous GET %s: HTTP %d, want 401", p, r.code)
			continue
		}
		expectRaw(t, r, 401, metav1.StatusReasonUnauthorized, "Unauthorized")
		if r.status != nil && r.status.Message != "Unauthorized" {
			t.Errorf("anonymous GET %s: message %q, want Unauthorized", p, r.status.Message)
		}
	}
	// Writes too, and nothing is stored.
	r := do(t, anon, s, "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"anon"}}`))
	expectRaw(t, r, 401, metav1.StatusReasonUnauthorized, "Unauthorized")
	if _, err := s.Client.CoreV1().ConfigMaps("default").Get(ctxFor(t), "anon", metav1.GetOptions{}); err == nil {
		t.Error("an anonymous create was stored")
	}
	// An unknown bearer token is no better.
	r = doHeaders(t, anon, s, "GET", "/api/v1/namespaces", "", nil, map[string]string{"Authorization": "Bearer not-a-token"})
	expectRaw(t, r, 401, metav1.StatusReasonUnauthorized, "Unauthorized")
	for _, p := range []string{"/livez", "/readyz", "/healthz", "/version"} {
		r := do(t, anon, s, "GET", p, "", nil)
		if r.code != 200 {
			t.Errorf("anonymous GET %s: HTTP %d (%s), want 200", p, r.code, truncate(r.body))
		}
	}
	r = do(t, anon, s, "GET", "/version", "", nil)
	if !contains(mustDecode(t, r.body), map[string]any{"major": "1"}) {
		t.Errorf("/version answered %s", truncate(r.body))
	}
	// The admin's client certificate is accepted everywhere.
	for _, p := range []string{"/api", "/apis", "/api/v1/namespaces", "/openapi/v2"} {
		if r := do(t, httpClient(t, s), s, "GET", p, "", nil); r.code != 200 {
			t.Errorf("admin GET %s: HTTP %d", p, r.code)
		}
	}
}
