package bootstrap

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"berth/apiserver"
	"berth/apiserver/request"
)

// denyAll stands for the authorizer of everyone else.
type denyAll struct{ calls int }

func (d *denyAll) Authorize(context.Context, apiserver.Attributes) (bool, string, error) {
	d.calls++
	return false, "next said no", nil
}

func TestAuthorizer(t *testing.T) {
	bootstrapper := &authnv1.UserInfo{Username: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers", "system:authenticated"}}
	csrs := func(verb, sub string) *request.Info {
		return &request.Info{IsResourceRequest: true, Verb: verb, APIPrefix: "apis", APIGroup: "certificates.k8s.io", APIVersion: "v1", Resource: "certificatesigningrequests", Subresource: sub}
	}
	tests := []struct {
		name    string
		user    *authnv1.UserInfo
		info    *request.Info
		allowed bool
		next    bool // decided by the next authorizer
	}{
		{"create csr", bootstrapper, csrs("create", ""), true, false},
		{"get csr", bootstrapper, csrs("get", ""), true, false},
		{"list csrs", bootstrapper, csrs("list", ""), true, false},
		{"watch csrs", bootstrapper, csrs("watch", ""), true, false},
		{"approve own csr", bootstrapper, csrs("update", "approval"), false, false},
		{"set a certificate", bootstrapper, csrs("update", "status"), false, false},
		{"delete csr", bootstrapper, csrs("delete", ""), false, false},
		{"read secrets", bootstrapper, &request.Info{IsResourceRequest: true, Verb: "get", APIPrefix: "api", APIVersion: "v1", Namespace: "kube-system", Resource: "secrets"}, false, false},
		{"create a node", bootstrapper, &request.Info{IsResourceRequest: true, Verb: "create", APIPrefix: "api", APIVersion: "v1", Resource: "nodes"}, false, false},
		{"discovery", bootstrapper, &request.Info{Verb: "get", Path: "/apis/certificates.k8s.io/v1"}, true, false},
		{"version", bootstrapper, &request.Info{Verb: "get", Path: "/version"}, true, false},
		{"metrics", bootstrapper, &request.Info{Verb: "get", Path: "/metrics"}, false, false},
		{"post to a non-resource path", bootstrapper, &request.Info{Verb: "post", Path: "/api"}, false, false},
		{"other users go to next", &authnv1.UserInfo{Username: "system:node:n1", Groups: []string{"system:nodes"}}, csrs("create", ""), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := &denyAll{}
			ok, reason, err := Authorizer{Next: next}.Authorize(context.Background(), apiserver.Attributes{User: tc.user, Info: tc.info})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.allowed {
				t.Errorf("allowed = %v (%s), want %v", ok, reason, tc.allowed)
			}
			if (next.calls > 0) != tc.next {
				t.Errorf("next authorizer called %d times", next.calls)
			}
			if !ok && !tc.next && reason == "" {
				t.Error("refusal without a reason")
			}
		})
	}
}

func TestPublicClusterInfo(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		public       bool
	}{
		{"GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info", true},
		{"HEAD", "/api/v1/namespaces/kube-public/configmaps/cluster-info", true},
		{"PUT", "/api/v1/namespaces/kube-public/configmaps/cluster-info", false},
		{"DELETE", "/api/v1/namespaces/kube-public/configmaps/cluster-info", false},
		{"GET", "/api/v1/namespaces/kube-public/configmaps", false},
		{"GET", "/api/v1/namespaces/kube-public/configmaps/other", false},
		{"GET", "/api/v1/namespaces/kube-system/configmaps/cluster-info", false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if got := PublicClusterInfo(r); got != tc.public {
			t.Errorf("%s %s public = %v", tc.method, tc.path, got)
		}
	}
}

// TestThroughTheAPIServer wires the authenticator, the authorizer and the
// public hook into berth's API server as the server does, and checks what
// requests come to: 401 for a refused token or an anonymous request, 403
// for what a bootstrapper may not do, and through to routing (404: this
// server serves no resources) for what it may.
func TestThroughTheAPIServer(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	secrets := &fakeSecrets{secrets: map[string]*corev1.Secret{"kube-system/bootstrap-token-abcdef": tokenSecret(nil)}}
	authn, err := New(Config{Secrets: secrets, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Scheme: scheme, Resources: apiserver.NewResources(),
		Tokens: []apiserver.TokenAuthenticator{authn}, Public: PublicClusterInfo,
		Authorizer: Authorizer{Next: apiserver.AllowAuthenticated{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const good, bad = "abcdef.0123456789abcdef", "abcdef.0000000000000000"
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
	}{
		{"cluster-info anonymously", "GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info", "", http.StatusNotFound},
		{"other configmap anonymously", "GET", "/api/v1/namespaces/kube-public/configmaps/other", "", http.StatusUnauthorized},
		{"wrong token", "GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests", bad, http.StatusUnauthorized},
		{"create csr", "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", good, http.StatusNotFound},
		{"watch csrs", "GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true&fieldSelector=metadata.name%3Dx", good, http.StatusNotFound},
		{"approve", "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/x/approval", good, http.StatusForbidden},
		{"read secrets", "GET", "/api/v1/namespaces/kube-system/secrets", good, http.StatusForbidden},
		{"version", "GET", "/version", good, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Errorf("%s %s: HTTP %d, want %d: %s", tc.method, tc.path, w.Code, tc.code, w.Body)
			}
		})
	}
}
