package openapi

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kubectlDir is where the machine keeps one kubectl per minor version.
const kubectlDir = "/usr/lib/google-cloud-sdk/bin"

// fakeAPI serves the legacy discovery documents kubectl needs to map a
// resource name to its kind (/api, /apis, /api/v1 and
// /apis/{group}/{version}) and a few fixed objects, and records writes.
type fakeAPI struct {
	resources []Resource
	// objects are served by path.
	objects map[string][]byte
	// writes records POST, PUT and PATCH requests as "METHOD URL
	// CONTENT-TYPE" and the body on the next line. They are answered by
	// echoing the body (a patch is not applied).
	writes chan<- string
}

func (d fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		d.echo(w, r)
		return
	}
	if obj, ok := d.objects[r.URL.Path]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(obj)
		return
	}
	var body interface{}
	gvs := map[schema.GroupVersion][]metav1.APIResource{}
	var order []schema.GroupVersion
	for _, res := range d.resources {
		gv := res.GVK.GroupVersion()
		if _, ok := gvs[gv]; !ok {
			order = append(order, gv)
		}
		gvs[gv] = append(gvs[gv], metav1.APIResource{Name: res.Resource, Namespaced: res.Namespaced, Kind: res.GVK.Kind, Verbs: res.Verbs})
		for _, sub := range res.Subresources {
			kind := sub.GVK.Kind
			if kind == "" {
				kind = res.GVK.Kind
			}
			gvs[gv] = append(gvs[gv], metav1.APIResource{Name: res.Resource + "/" + sub.Name, Namespaced: res.Namespaced, Kind: kind, Verbs: sub.Verbs})
		}
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api":
		body = &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}}
	case path == "/apis":
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, gv := range order {
			if gv.Group == "" {
				continue
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
		body = list
	default:
		for gv, rs := range gvs {
			if path == "/"+gvPath(gv) {
				body = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String(), APIResources: rs}
			}
		}
	}
	if body == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// echo answers a write by returning its body as the stored object.
func (d fakeAPI) echo(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case d.writes <- r.Method + " " + r.URL.String() + " " + r.Header.Get("Content-Type") + "\n" + string(data):
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	if obj, ok := d.objects[r.URL.Path]; ok {
		_, _ = w.Write(obj)
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(data)
}

// kubectlServer starts a TLS server with the OpenAPI handler and the
// minimal discovery, and writes a kubeconfig for it.
func kubectlServer(t *testing.T, objects map[string][]byte) (kubeconfig, cacheDir string, writes <-chan string) {
	t.Helper()
	resources := testResources()
	mux := http.NewServeMux()
	mux.Handle("/openapi/", New(testScheme(t), func() []Resource { return resources }))
	w := make(chan string, 10)
	mux.Handle("/", fakeAPI{resources: resources, objects: objects, writes: w})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // kubectl hangs up on TLS probes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	config := `apiVersion: v1
kind: Config
clusters:
- name: berth
  cluster:
    server: ` + srv.URL + `
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: test
contexts:
- name: berth
  context: {cluster: berth, user: admin, namespace: default}
current-context: berth
`
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, filepath.Join(dir, "cache"), w
}

func runKubectl(t *testing.T, version, kubeconfig, cache string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, version, kubeconfig, cache, args...)
	if err != nil {
		t.Fatalf("kubectl.%s %s: %v\n%s", version, strings.Join(args, " "), err, out)
	}
	return out
}

// kubectl runs one installed kubectl version against a test server.
func kubectl(t *testing.T, version, kubeconfig, cache string, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(kubectlDir, "kubectl."+version)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not installed", bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + cache}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestKubectlExplain(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"explain", "deployment.spec.strategy.rollingUpdate"},
			[]string{"KIND:       Deployment", "maxSurge", "maxUnavailable", "The maximum number of pods that can be scheduled above the desired"}},
		{[]string{"explain", "deployment.spec.strategy", "--recursive"},
			[]string{"rollingUpdate", "maxSurge", "type", "The deployment strategy to use to replace existing pods with new ones"}},
		{[]string{"explain", "deployment.spec"},
			[]string{"selector\t<LabelSelector> -required-", "template\t<PodTemplateSpec> -required-", "replicas\t<integer>"}},
		{[]string{"explain", "pods.spec.containers.ports"},
			[]string{"containerPort\t<integer> -required-", "protocol\t<string>"}},
		{[]string{"explain", "deployment.spec.strategy", "--output=plaintext-openapiv2"},
			[]string{"RESOURCE: strategy <Object>", "rollingUpdate\t<Object>", "The deployment strategy to use to replace existing pods with new ones"}},
		{[]string{"explain", "deployment.spec.strategy.rollingUpdate", "--output=plaintext-openapiv2"},
			[]string{"maxSurge", "The maximum number of pods that can be scheduled above the desired"}},
	}
	for _, version := range []string{"1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig, cache, _ := kubectlServer(t, nil)
			for _, c := range cases {
				out := runKubectl(t, version, kubeconfig, cache, c.args...)
				for _, want := range c.want {
					if !strings.Contains(out, want) {
						t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(c.args, " "), want, out)
					}
				}
			}
		})
	}
}

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  bogus: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
`

// TestKubectlServerSideValidation checks that kubectl finds the
// fieldValidation parameter of the PATCH operation in the documents and so
// leaves validation to the server: a manifest with an unknown field goes
// to the server with fieldValidation=Strict instead of failing in kubectl.
func TestKubectlServerSideValidation(t *testing.T) {
	manifest := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(manifest, []byte(deploymentYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"1.27", "1.30", "1.33"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig, cache, writes := kubectlServer(t, nil)
			out, err := kubectl(t, version, kubeconfig, cache, "create", "--validate=strict", "-f", manifest)
			if err != nil {
				t.Fatalf("kubectl validated on its own instead of leaving it to the server: %v\n%s", err, out)
			}
			select {
			case w := <-writes:
				if !strings.HasPrefix(w, "POST /apis/apps/v1/namespaces/default/deployments?") || !strings.Contains(w, "fieldValidation=Strict") {
					t.Errorf("kubectl sent %s; want a POST with fieldValidation=Strict", w)
				}
			default:
				t.Error("kubectl sent no create request")
			}
		})
	}
}

// TestKubectlClientSideValidation checks kubectl's own validation against
// the documents, which it uses where the server cannot validate: a kind
// List is never validated by the server, so kubectl checks its items.
func TestKubectlClientSideValidation(t *testing.T) {
	dir := t.TempDir()
	item := "- " + strings.ReplaceAll(strings.TrimSpace(deploymentYAML), "\n", "\n  ")
	bad := "apiVersion: v1\nkind: List\nitems:\n" + item + "\n"
	good := strings.Replace(bad, "bogus: 1", "replicas: 2", 1)
	for name, content := range map[string]string{"bad.yaml": bad, "good.yaml": good} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, version := range []string{"1.27", "1.33"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig, cache, writes := kubectlServer(t, nil)
			out, err := kubectl(t, version, kubeconfig, cache, "create", "--validate=strict", "-f", filepath.Join(dir, "bad.yaml"))
			if err == nil || !strings.Contains(out, "bogus") {
				t.Errorf("an unknown field passed kubectl's validation: %v\n%s", err, out)
			}
			out, err = kubectl(t, version, kubeconfig, cache, "create", "--validate=strict", "-f", filepath.Join(dir, "good.yaml"))
			if err != nil {
				t.Errorf("a valid deployment failed kubectl's validation: %v\n%s", err, out)
			}
			select {
			case <-writes:
			default:
				t.Error("kubectl sent no create request for the valid deployment")
			}
		})
	}
}

// TestKubectlApply checks that client-side kubectl apply computes its
// strategic merge patch from the documents: with -v=5 kubectl says when it
// falls back from the OpenAPI v3 document, and it warns when a document's
// patch metadata does not work.
func TestKubectlApply(t *testing.T) {
	original, modified, _ := deployments()
	var live map[string]interface{}
	if err := json.Unmarshal(original, &live); err != nil {
		t.Fatal(err)
	}
	live["metadata"].(map[string]interface{})["namespace"] = "default"
	live["metadata"].(map[string]interface{})["annotations"] = map[string]interface{}{
		"kubectl.kubernetes.io/last-applied-configuration": string(original),
	}
	liveJSON, _ := json.Marshal(live)
	manifest := filepath.Join(t.TempDir(), "deploy.json")
	if err := os.WriteFile(manifest, modified, 0o600); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{"/apis/apps/v1/namespaces/default/deployments/web": liveJSON}
	for _, version := range []string{"1.27", "1.33"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig, cache, writes := kubectlServer(t, objects)
			out := runKubectl(t, version, kubeconfig, cache, "apply", "-v=5", "-f", manifest)
			for _, bad := range []string{"OpenAPI V3 path does not", "error calculating patch"} {
				if strings.Contains(out, bad) {
					t.Errorf("kubectl did not use the documents: %s", out)
				}
			}
			select {
			case w := <-writes:
				head, body, _ := strings.Cut(w, "\n")
				if !strings.HasPrefix(head, "PATCH /apis/apps/v1/namespaces/default/deployments/web?") ||
					!strings.HasSuffix(head, " application/strategic-merge-patch+json") {
					t.Errorf("kubectl sent %s", head)
				}
				if !strings.Contains(body, `"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}]`) ||
					!strings.Contains(body, `"image":"envoy:2"`) {
					t.Errorf("the patch does not merge containers by name: %s", body)
				}
			default:
				t.Errorf("kubectl sent no patch:\n%s", out)
			}
		})
	}
}
