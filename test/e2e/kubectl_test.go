package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestKubectl drives the built berth binary with real kubectl binaries of
// the oldest and newest supported versions, each against its own server.
func TestKubectl(t *testing.T) {
	for _, minor := range []int{33, 27} {
		t.Run(fmt.Sprintf("kubectl-1.%d", minor), func(t *testing.T) {
			bin := fmt.Sprintf("/usr/lib/google-cloud-sdk/bin/kubectl.1.%d", minor)
			if _, err := os.Stat(bin); err != nil {
				t.Skipf("kubectl 1.%d is not installed (%v); this test needs %s", minor, err, bin)
			}
			t.Parallel()
			runScenario(t, bin, minor)
		})
	}
}

// manifest is the multi-document file the scenario applies, with the
// Deployment's replicas as given. The Secret uses data (base64): with
// stringData kubectl apply reports "configured" every time, on Kubernetes
// too (kubernetes/kubernetes#87736).
func manifest(replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: %d
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
data:
  key: value
---
apiVersion: v1
kind: Secret
metadata:
  name: s
type: Opaque
data:
  password: %s
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`, replicas, base64.StdEncoding.EncodeToString([]byte("hunter2")))
}

// the kubectl output lines for the five objects of manifest, with a verb.
func objectLines(verb string) []string {
	return []string{
		"deployment.apps/web " + verb,
		"service/web " + verb,
		"configmap/c " + verb,
		"secret/s " + verb,
		"ingress.networking.k8s.io/web " + verb,
	}
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// table splits kubectl's tabular output into rows of fields.
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.TrimSpace(line) != "" {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

func containsLine(out string, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(out)
}

func checkLines(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !containsLine(out, re) {
			t.Errorf("%s: no line matching %q in:\n%s", what, re, out)
		}
	}
}

func runScenario(t *testing.T, bin string, minor int) {
	berth := berthBinary(t)
	dataDir := t.TempDir()
	work := t.TempDir()
	k := &kubectl{
		bin:        bin,
		kubeconfig: filepath.Join(dataDir, "admin.kubeconfig"),
		cacheDir:   filepath.Join(work, "cache"),
		home:       filepath.Join(work, "home"),
		workDir:    work,
	}
	if err := os.MkdirAll(k.home, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, t, berth, dataDir, freePort(t))
	const ns = "e2e"
	in := func(args ...string) []string { return append(args, "-n", ns) }

	app := writeFile(t, work, "app.yaml", manifest(2), 0o644)
	app3 := writeFile(t, work, "app3.yaml", manifest(3), 0o644)
	app4 := writeFile(t, work, "app4.yaml", manifest(4), 0o644)

	t.Run("namespaces", func(t *testing.T) {
		rows := table(k.ok(t, "get", "ns"))
		if len(rows) == 0 || !slices.Equal(rows[0], []string{"NAME", "STATUS", "AGE"}) {
			t.Fatalf("get ns: header %v, want [NAME STATUS AGE]", rows)
		}
		var names []string
		for _, r := range rows[1:] {
			names = append(names, r[0])
			if len(r) != 3 || r[1] != "Active" {
				t.Errorf("get ns: row %v, want NAME Active AGE", r)
			}
		}
		if want := []string{"default", "kube-node-lease", "kube-public", "kube-system"}; !slices.Equal(names, want) {
			t.Errorf("get ns: namespaces %v, want %v", names, want)
		}
		k.want(t, []string{"namespace/e2e created"}, "create", "namespace", ns)
		k.checkJSONPath(t, "Active", "{.status.phase}", "namespace", ns)
	})

	t.Run("apply", func(t *testing.T) {
		k.want(t, objectLines("created"), in("apply", "-f", app)...)
		k.checkJSONPath(t, "2", "{.spec.replicas}", in("deployment", "web")...)
		k.checkJSONPath(t, "value", "{.data.key}", in("configmap", "c")...)
		k.checkJSONPath(t, base64.StdEncoding.EncodeToString([]byte("hunter2")), "{.data.password}", in("secret", "s")...)
		k.checkJSONPath(t, "web.example.com", "{.spec.rules[0].host}", in("ingress", "web")...)
		gen := k.jsonpath(t, "{.metadata.generation}", in("deployment", "web")...)

		k.want(t, objectLines("unchanged"), in("apply", "-f", app)...)
		k.checkJSONPath(t, gen, "{.metadata.generation}", in("deployment", "web")...)

		configured := objectLines("unchanged")
		configured[0] = "deployment.apps/web configured"
		k.want(t, configured, in("apply", "-f", app3)...)
		k.checkJSONPath(t, "3", "{.spec.replicas}", in("deployment", "web")...)

		// The values equal those the client-side apply set, so there is
		// no conflict and no need for --force-conflicts, as on Kubernetes.
		k.want(t, objectLines("serverside-applied"), in("apply", "--server-side", "-f", app3)...)
		k.checkJSONPath(t, "3", "{.spec.replicas}", in("deployment", "web")...)
		if managers := strings.Fields(k.jsonpath(t, `{.metadata.managedFields[?(@.operation=="Apply")].manager}`, in("configmap", "c")...)); !slices.Contains(managers, "kubectl") {
			t.Errorf("after apply --server-side, the Apply managers of configmap/c are %v, want kubectl among them", managers)
		}

		r := k.run(in("diff", "-f", app4)...)
		if r.code != 1 {
			t.Errorf("diff of a changed file: want exit 1, got %s", r)
		}
		checkLines(t, "diff of a changed file", r.stdout, `^-  replicas: 3$`, `^\+  replicas: 4$`)
		r = k.run(in("diff", "-f", app3)...)
		if r.code != 0 || r.stdout != "" {
			t.Errorf("diff of the applied file: want exit 0 and no output, got %s", r)
		}
	})

	t.Run("scale", func(t *testing.T) {
		k.want(t, []string{"deployment.apps/web scaled"}, in("scale", "deployment", "web", "--replicas=5")...)
		k.checkJSONPath(t, "5", "{.spec.replicas}", in("deployment", "web")...)
	})

	t.Run("patch", func(t *testing.T) {
		// Strategic merge (the default): containers merge by name, so the
		// port stays.
		k.want(t, []string{"deployment.apps/web patched"}, in("patch", "deployment", "web",
			"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`)...)
		k.checkJSONPath(t, "web nginx:1.26 80", "{.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}", in("deployment", "web")...)
		k.want(t, []string{"deployment.apps/web patched (no change)"}, in("patch", "deployment", "web",
			"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`)...)

		k.want(t, []string{"deployment.apps/web patched"}, in("patch", "deployment", "web", "--type=merge",
			"-p", `{"spec":{"minReadySeconds":3}}`)...)
		k.checkJSONPath(t, "3", "{.spec.minReadySeconds}", in("deployment", "web")...)

		k.want(t, []string{"deployment.apps/web patched"}, in("patch", "deployment", "web", "--type=json",
			"-p", `[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]`)...)
		k.checkJSONPath(t, "4", "{.spec.revisionHistoryLimit}", in("deployment", "web")...)

		// An invalid patch is refused with the field path, and nothing changes.
		r := k.fails(t, in("patch", "deployment", "web", "--type=merge", "-p", `{"spec":{"replicas":-1}}`)...)
		if want := `The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`; !strings.Contains(r.stderr, want) {
			t.Errorf("invalid patch: stderr %q, want it to contain %q", r.stderr, want)
		}
		k.checkJSONPath(t, "5", "{.spec.replicas}", in("deployment", "web")...)
	})

	t.Run("label-annotate", func(t *testing.T) {
		k.want(t, []string{"deployment.apps/web labeled"}, in("label", "deployment", "web", "tier=frontend")...)
		r := k.fails(t, in("label", "deployment", "web", "tier=backend")...)
		if want := "'tier' already has a value (frontend), and --overwrite is false"; !strings.Contains(r.stderr, want) {
			t.Errorf("label without --overwrite: stderr %q, want %q", r.stderr, want)
		}
		k.want(t, []string{"deployment.apps/web labeled"}, in("label", "deployment", "web", "tier=backend", "--overwrite")...)
		k.checkJSONPath(t, "backend web", "{.metadata.labels.tier} {.metadata.labels.app}", in("deployment", "web")...)

		// kubectl 1.27 says "annotate" (its own bug, fixed in 1.28).
		annotated := "deployment.apps/web annotated"
		if minor < 28 {
			annotated = "deployment.apps/web annotate"
		}
		k.want(t, []string{annotated}, in("annotate", "deployment", "web", "note=one")...)
		r = k.fails(t, in("annotate", "deployment", "web", "note=two")...)
		if want := "'note' already has a value (one)"; !strings.Contains(r.stderr, want) {
			t.Errorf("annotate without --overwrite: stderr %q, want %q", r.stderr, want)
		}
		k.want(t, []string{annotated}, in("annotate", "deployment", "web", "note=two", "--overwrite")...)
		k.checkJSONPath(t, "two", "{.metadata.annotations.note}", in("deployment", "web")...)
		k.want(t, []string{"deployment.apps/web unlabeled"}, in("label", "deployment", "web", "tier-")...)
		k.checkJSONPath(t, "", "{.metadata.labels.tier}", in("deployment", "web")...)
	})

	t.Run("edit", func(t *testing.T) {
		editor := writeFile(t, work, "editor.sh", "#!/bin/sh\nexec sed -i 's/^  replicas: 5$/  replicas: 7/' \"$1\"\n", 0o755)
		out := k.okEnv(t, []string{"EDITOR=" + editor}, in("edit", "deployment", "web")...)
		if out != "deployment.apps/web edited\n" {
			t.Errorf("edit: stdout %q, want %q", out, "deployment.apps/web edited\n")
		}
		k.checkJSONPath(t, "7", "{.spec.replicas}", in("deployment", "web")...)
	})

	t.Run("get", func(t *testing.T) {
		rows := table(k.ok(t, in("get", "deploy", "web", "-o", "wide")...))
		wantHeader := []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
		if len(rows) != 2 || !slices.Equal(rows[0], wantHeader) {
			t.Errorf("get -o wide: %v, want header %v and one row", rows, wantHeader)
		} else if r := rows[1]; len(r) != 8 || r[0] != "web" || r[1] != "0/7" || r[2] != "0" || r[3] != "0" ||
			r[5] != "web" || r[6] != "nginx:1.26" || r[7] != "app=web" {
			t.Errorf("get -o wide: row %v, want [web 0/7 0 0 AGE web nginx:1.26 app=web]", r)
		}

		var fromYAML appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(k.ok(t, in("get", "deploy", "web", "-o", "yaml")...)), &fromYAML); err != nil {
			t.Errorf("get -o yaml: %v", err)
		} else if fromYAML.APIVersion != "apps/v1" || fromYAML.Kind != "Deployment" || fromYAML.Name != "web" ||
			fromYAML.Spec.Replicas == nil || *fromYAML.Spec.Replicas != 7 {
			t.Errorf("get -o yaml: %s %s %s replicas %v", fromYAML.APIVersion, fromYAML.Kind, fromYAML.Name, fromYAML.Spec.Replicas)
		}

		var fromJSON appsv1.Deployment
		dec := json.NewDecoder(strings.NewReader(k.ok(t, in("get", "deploy", "web", "-o", "json")...)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fromJSON); err != nil {
			t.Errorf("get -o json: %v", err)
		} else {
			if fromJSON.APIVersion != "apps/v1" || fromJSON.Kind != "Deployment" || fromJSON.Namespace != ns ||
				fromJSON.Spec.Replicas == nil || *fromJSON.Spec.Replicas != 7 || fromJSON.UID == "" ||
				fromJSON.ResourceVersion == "" || fromJSON.CreationTimestamp.IsZero() {
				t.Errorf("get -o json: unexpected object meta/spec: %+v %+v", fromJSON.TypeMeta, fromJSON.ObjectMeta)
			}
			if fromJSON.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || fromJSON.Spec.Template.Spec.RestartPolicy != "Always" {
				t.Errorf("get -o json: defaults not applied: strategy %q restartPolicy %q", fromJSON.Spec.Strategy.Type, fromJSON.Spec.Template.Spec.RestartPolicy)
			}
		}

		k.checkJSONPath(t, "7", "{.spec.replicas}", in("deploy", "web")...)
		k.want(t, []string{"deployment.apps/web"}, in("get", "deploy", "web", "-o", "name")...)

		all := k.ok(t, in("get", "all")...)
		checkLines(t, "get all", all, `^service/web\s+ClusterIP\s`, `^deployment\.apps/web\s+0/7\s`)

		rows = table(k.ok(t, in("get", "svc")...))
		wantHeader = []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}
		if len(rows) != 2 || !slices.Equal(rows[0], wantHeader) {
			t.Errorf("get svc: %v, want header %v and one row", rows, wantHeader)
		} else {
			r := rows[1]
			ip, err := netip.ParseAddr(r[2])
			if len(r) != 6 || r[0] != "web" || r[1] != "ClusterIP" || err != nil || !netip.MustParsePrefix("10.43.0.0/16").Contains(ip) ||
				r[3] != "<none>" || r[4] != "80/TCP" {
				t.Errorf("get svc: row %v, want [web ClusterIP 10.43.x.y <none> 80/TCP AGE]", r)
			}
			k.checkJSONPath(t, r[2], "{.spec.clusterIP}", in("svc", "web")...)
		}
	})

	t.Run("watch", func(t *testing.T) {
		byName := k.start(t, in("get", "configmap", "c", "-w", "-o", "name")...)
		events := k.start(t, in("get", "configmap", "c", "-w", "--output-watch-events", "-o", `jsonpath={.type} {.object.data.key}{"\n"}`)...)
		// Both print the object as it is first; then the watch is open
		// (from the list's resourceVersion, so no change can slip by).
		byName.expectLine(t, "configmap/c", 10*time.Second)
		events.expectLine(t, "ADDED value", 10*time.Second)
		k.want(t, []string{"configmap/c patched"}, in("patch", "configmap", "c", "--type=merge", "-p", `{"data":{"key":"changed"}}`)...)
		byName.expectLine(t, "configmap/c", 5*time.Second)
		events.expectLine(t, "MODIFIED changed", 5*time.Second)
	})

	t.Run("describe", func(t *testing.T) {
		checkLines(t, "describe deployment", k.ok(t, in("describe", "deployment", "web")...),
			`^Name:\s+web$`, `^Namespace:\s+e2e$`, `^Selector:\s+app=web$`,
			`^Replicas:\s+7 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$`,
			`^StrategyType:\s+RollingUpdate$`, `^MinReadySeconds:\s+3$`, `^Annotations:\s+note: two$`,
			`^\s+Image:\s+nginx:1.26$`)
		checkLines(t, "describe svc", k.ok(t, in("describe", "svc", "web")...),
			`^Name:\s+web$`, `^Selector:\s+app=web$`, `^Type:\s+ClusterIP$`, `^IP:\s+10\.43\.\d+\.\d+$`,
			`^Port:\s+<unset>\s+80/TCP$`, `^TargetPort:\s+80/TCP$`)
		checkLines(t, "describe ns", k.ok(t, "describe", "ns", ns),
			`^Name:\s+e2e$`, `^Labels:\s+kubernetes.io/metadata.name=e2e$`, `^Status:\s+Active$`)
	})

	t.Run("explain", func(t *testing.T) {
		out := k.ok(t, "explain", "deployment.spec.strategy")
		checkLines(t, "explain deployment.spec.strategy", out,
			`^KIND:\s+Deployment$`, `^FIELD: strategy <DeploymentStrategy>$`,
			`^\s+The deployment strategy to use to replace existing pods with new ones\.$`,
			`^\s+rollingUpdate\t<RollingUpdateDeployment>$`, `^\s+type\t<string>$`,
			`^\s+Type of deployment\. Can be "Recreate" or "RollingUpdate"\. Default is$`)
		if minor >= 30 {
			// kubectl 1.30+ prints the enum values the schema lists, as
			// Kubernetes' OpenAPI has them (from the +enum markers).
			checkLines(t, "explain deployment.spec.strategy (enum)", out, `^\s+enum: Recreate, RollingUpdate$`)
		}
		checkLines(t, "explain pods --recursive", k.ok(t, "explain", "pods", "--recursive"),
			`^KIND:\s+Pod$`, `^\s+spec\t<PodSpec>$`, `^\s+containers\t<\[\]Container> -required-$`, `^\s+restartPolicy\t<string>`)
	})

	t.Run("discovery", func(t *testing.T) {
		rows := table(k.ok(t, "api-resources"))
		if len(rows) == 0 || !slices.Equal(rows[0], []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}) {
			t.Fatalf("api-resources: header %v", rows)
		}
		for _, want := range [][]string{
			{"deployments", "deploy", "apps/v1", "true", "Deployment"},
			{"services", "svc", "v1", "true", "Service"},
			{"configmaps", "cm", "v1", "true", "ConfigMap"},
			{"namespaces", "ns", "v1", "false", "Namespace"},
			{"ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"},
			{"secrets", "v1", "true", "Secret"},
			{"jobs", "batch/v1", "true", "Job"},
		} {
			if !slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, want) }) {
				t.Errorf("api-resources: no row %v", want)
			}
		}
		versions := strings.Split(strings.TrimSpace(k.ok(t, "api-versions")), "\n")
		for _, want := range []string{"apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "v1"} {
			if !slices.Contains(versions, want) {
				t.Errorf("api-versions: %q missing from %v", want, versions)
			}
		}
	})

	t.Run("create", func(t *testing.T) {
		k.want(t, []string{"configmap/cm1 created"}, in("create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=b=2")...)
		k.checkJSONPath(t, "1 2", "{.data.a} {.data.b}", in("configmap", "cm1")...)
		k.want(t, []string{"secret/s1 created"}, in("create", "secret", "generic", "s1", "--from-literal=p=x")...)
		k.checkJSONPath(t, "eA== Opaque", "{.data.p} {.type}", in("secret", "s1")...)
		k.want(t, []string{"deployment.apps/keep created"}, in("create", "deployment", "keep", "--image=nginx:1.25")...)
		k.checkJSONPath(t, "1 keep=keep", "{.spec.replicas} {.spec.selector.matchLabels.app}={.spec.template.metadata.labels.app}", in("deployment", "keep")...)
		r := k.fails(t, in("create", "configmap", "cm1", "--from-literal=a=1")...)
		if want := `error: failed to create configmap: configmaps "cm1" already exists`; strings.TrimSpace(r.stderr) != want {
			t.Errorf("create an existing configmap: stderr %q, want %q", r.stderr, want)
		}
	})

	t.Run("bad-input", func(t *testing.T) {
		bad := writeFile(t, work, "bad.yaml", strings.Replace(strings.Replace(
			strings.Split(manifest(2), "---")[0], "replicas: 2", "replicas: -1", 1), "name: web", "name: bad", 1), 0o644)
		r := k.fails(t, in("apply", "-f", bad)...)
		if want := `spec.replicas: Invalid value: -1: must be greater than or equal to 0`; !strings.Contains(r.stderr, want) {
			t.Errorf("apply replicas -1: stderr %q, want it to contain %q", r.stderr, want)
		}
		if want := `The Deployment "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`; strings.TrimSpace(r.stderr) != want {
			t.Errorf("apply replicas -1: stderr %q, want %q", r.stderr, want)
		}
		r = k.fails(t, in("get", "deployment", "bad")...)
		if want := `Error from server (NotFound): deployments.apps "bad" not found`; strings.TrimSpace(r.stderr) != want {
			t.Errorf("get the refused deployment: stderr %q, want %q", r.stderr, want)
		}

		strict := writeFile(t, work, "strict.yaml", strings.Replace(strings.Replace(
			strings.Split(manifest(2), "---")[0], "  replicas: 2\n", "  replicas: 2\n  bogusField: 1\n", 1), "name: web", "name: strict", 1), 0o644)
		r = k.fails(t, in("apply", "--validate=strict", "-f", strict)...)
		if want := `unknown field "spec.bogusField"`; !strings.Contains(r.stderr, want) {
			t.Errorf("apply with an unknown field: stderr %q, want it to contain %q", r.stderr, want)
		}
		// Kubernetes' create handler wraps decoding errors (transformDecodeError
		// in k8s.io/apiserver/pkg/endpoints/handlers/rest.go).
		if want := fmt.Sprintf(`Error from server (BadRequest): error when creating %q: Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.bogusField"`, strict); strings.TrimSpace(r.stderr) != want {
			t.Errorf("apply with an unknown field:\n got: %q\nwant: %q", strings.TrimSpace(r.stderr), want)
		}
		k.fails(t, in("get", "deployment", "strict")...)

		typed := writeFile(t, work, "typed.yaml", strings.Replace(strings.Replace(
			strings.Split(manifest(2), "---")[0], "replicas: 2", "replicas: two", 1), "name: web", "name: typed", 1), 0o644)
		r = k.fails(t, in("apply", "-f", typed)...)
		if want := fmt.Sprintf(`Error from server (BadRequest): error when creating %q: Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`, typed); strings.TrimSpace(r.stderr) != want {
			t.Errorf("apply with a string for an integer:\n got: %q\nwant: %q", strings.TrimSpace(r.stderr), want)
		}
		k.fails(t, in("get", "deployment", "typed")...)

		r = k.fails(t, "get", "foo")
		if want := `error: the server doesn't have a resource type "foo"`; strings.TrimSpace(r.stderr) != want {
			t.Errorf("get foo: stderr %q, want %q", r.stderr, want)
		}
	})

	t.Run("delete", func(t *testing.T) {
		waiter := k.start(t, in("wait", "--for=delete", "deployment/web", "--timeout=30s")...)
		var deleted []string
		for _, l := range objectLines("") {
			kind, name, _ := strings.Cut(strings.TrimSpace(l), "/")
			deleted = append(deleted, fmt.Sprintf("%s %q deleted", kind, name))
		}
		k.want(t, deleted, in("delete", "-f", app)...)
		if done, err := waiter.wait(35 * time.Second); !done || err != nil {
			t.Errorf("kubectl wait --for=delete started before the delete: done %v, err %v; stderr:\n%s", done, err, waiter.stderr)
		}
		k.ok(t, in("wait", "--for=delete", "deployment/web", "--timeout=30s")...)
		if out := k.ok(t, in("get", "-f", app, "--ignore-not-found", "-o", "name")...); out != "" {
			t.Errorf("after delete -f, get -f --ignore-not-found printed %q", out)
		}
		r := k.fails(t, in("get", "deployment", "web")...)
		if want := `Error from server (NotFound): deployments.apps "web" not found`; strings.TrimSpace(r.stderr) != want {
			t.Errorf("get a deleted deployment: stderr %q, want %q", r.stderr, want)
		}
	})

	parent := t
	running := true
	t.Run("restart", func(t *testing.T) {
		uid := k.jsonpath(t, "{.metadata.uid}", in("deployment", "keep")...)
		srv.stop(t)
		running = false
		srv = startServer(t, parent, berth, dataDir, srv.port)
		running = true
		k.want(t, []string{"deployment.apps/keep"}, in("get", "deploy", "-o", "name")...)
		k.checkJSONPath(t, uid, "{.metadata.uid}", in("deployment", "keep")...)
		cms := strings.Fields(k.ok(t, in("get", "cm", "-o", "name")...))
		if !slices.Contains(cms, "configmap/cm1") || slices.Contains(cms, "configmap/c") {
			t.Errorf("configmaps after restart: %v, want configmap/cm1 and not the deleted configmap/c", cms)
		}
		k.checkJSONPath(t, "1 2", "{.data.a} {.data.b}", in("configmap", "cm1")...)
		k.checkJSONPath(t, "eA==", "{.data.p}", in("secret", "s1")...)
		k.checkJSONPath(t, "Active", "{.status.phase}", "namespace", ns)
		// Writes still work.
		k.want(t, []string{"deployment.apps/keep scaled"}, in("scale", "deployment", "keep", "--replicas=2")...)
		k.checkJSONPath(t, "2", "{.spec.replicas}", in("deployment", "keep")...)
	})

	t.Run("stop", func(t *testing.T) {
		if !running {
			t.Skip("the server did not come back after the restart")
		}
		srv.stop(t)
	})
}
