package integration

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func containerNames(d *appsv1.Deployment) []string {
	return names(d.Spec.Template.Spec.Containers, func(c corev1.Container) string { return c.Name + ":" + c.Image })
}

// TestPatch applies each patch type.
func TestPatch(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)

	t.Run("JSONPatch", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		cm, err := cms.Create(ctx, configMap("json", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cms.Patch(ctx, "json", types.JSONPatchType,
			[]byte(`[{"op":"test","path":"/data/k","value":"v"},{"op":"add","path":"/data/new","value":"1"},{"op":"remove","path":"/data/k"},{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Data) != 1 || out.Data["new"] != "1" || out.Labels["a"] != "b" {
			t.Errorf("after JSON patch: data %v labels %v", out.Data, out.Labels)
		}
		if rvInt(t, out.ResourceVersion) <= rvInt(t, cm.ResourceVersion) {
			t.Error("patch did not change resourceVersion")
		}
		// A failing test operation changes nothing: 422.
		_, err = cms.Patch(ctx, "json", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/new","value":"2"},{"op":"remove","path":"/data/new"}]`), metav1.PatchOptions{})
		expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		// A malformed patch is 400.
		_, err = cms.Patch(ctx, "json", types.JSONPatchType, []byte(`{"op":"add"}`), metav1.PatchOptions{})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "")
		got, err := cms.Get(ctx, "json", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.ResourceVersion != out.ResourceVersion {
			t.Error("a refused patch changed the object")
		}
		// A patch that changes nothing writes nothing.
		same, err := cms.Patch(ctx, "json", types.MergePatchType, []byte(`{"data":{"new":"1"}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if same.ResourceVersion != out.ResourceVersion {
			t.Errorf("a no-op patch changed resourceVersion %s to %s", out.ResourceVersion, same.ResourceVersion)
		}
	})

	t.Run("MergePatch", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		deps := s.Client.AppsV1().Deployments(ns)
		d := deployment("merge", 1)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A merge patch replaces lists.
		out, err := deps.Patch(ctx, "merge", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"x":"y"}},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"side","image":"nginx"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := containerNames(out); !slices.Equal(got, []string{"side:nginx"}) {
			t.Errorf("containers after merge patch %v, want [side:nginx]", got)
		}
		if *out.Spec.Replicas != 3 || out.Labels["x"] != "y" || out.Generation != 2 {
			t.Errorf("replicas %d labels %v generation %d", *out.Spec.Replicas, out.Labels, out.Generation)
		}
		// Defaults are applied to what the patch brings.
		if out.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
			t.Errorf("patched container not defaulted: %+v", out.Spec.Template.Spec.Containers[0])
		}
		// null removes a key.
		out, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":null}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := out.Labels["x"]; ok {
			t.Errorf("label x still there: %v", out.Labels)
		}
		// An invalid result is 422 with the field path.
		_, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"spec":{"replicas":-2}}`), metav1.PatchOptions{})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.replicas", "must be greater than or equal to 0")
		// Malformed JSON is 400.
		_, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"spec":`), metav1.PatchOptions{})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "")
		// Changing the name is refused.
		_, err = deps.Patch(ctx, "merge", types.MergePatchType, []byte(`{"metadata":{"name":"other"}}`), metav1.PatchOptions{})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "")
		// A missing object is 404.
		_, err = deps.Patch(ctx, "missing", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, `deployments.apps "missing" not found`)
	})

	t.Run("StrategicMergePatch", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		deps := s.Client.AppsV1().Deployments(ns)
		d := deployment("smp", 1)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
		if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Containers merge by name; env merges by name.
		out, err := deps.Patch(ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"nginx"},{"name":"c","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}]},{"name":"third","image":"redis"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := containerNames(out)
		slices.Sort(got)
		if want := []string{"c:busybox", "side:nginx", "third:redis"}; !slices.Equal(got, want) {
			t.Errorf("containers after strategic merge %v, want %v", got, want)
		}
		for _, c := range out.Spec.Template.Spec.Containers {
			if c.Name == "c" {
				env := names(c.Env, func(e corev1.EnvVar) string { return e.Name + "=" + e.Value })
				slices.Sort(env)
				if want := []string{"A=1", "B=3", "C=4"}; !slices.Equal(env, want) {
					t.Errorf("env %v, want %v", env, want)
				}
			}
		}
		// $patch: delete removes one element.
		out, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"third","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = containerNames(out)
		slices.Sort(got)
		if want := []string{"c:busybox", "side:nginx"}; !slices.Equal(got, want) {
			t.Errorf("containers after $patch delete %v, want %v", got, want)
		}
		// Strategic merge of a list without a merge key is rejected for
		// unknown directives; a bad document is 400.
		_, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(`[1,2]`), metav1.PatchOptions{})
		if err == nil {
			t.Error("strategic merge patch with a JSON array was accepted")
		}
	})

	t.Run("UnsupportedPatchType", func(t *testing.T) {
		t.Parallel()
		r := do(t, httpClient(t, s), s, "PATCH", "/api/v1/namespaces/"+ns+"/configmaps/x", "application/xml", []byte(`<x/>`))
		expectRaw(t, r, 415, metav1.StatusReasonUnsupportedMediaType, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml")
	})
}

// managedBy returns the managedFields entry of a manager and operation.
func managedBy(m metav1.Object, manager string, op metav1.ManagedFieldsOperationType) *metav1.ManagedFieldsEntry {
	for _, e := range m.GetManagedFields() {
		if e.Manager == manager && e.Operation == op {
			return &e
		}
	}
	return nil
}

func fieldsOf(t *testing.T, e *metav1.ManagedFieldsEntry) string {
	t.Helper()
	if e == nil || e.FieldsV1 == nil {
		return ""
	}
	return string(e.FieldsV1.Raw)
}

// TestServerSideApply covers apply: creation, managed fields, conflicts and
// forcing.
func TestServerSideApply(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	apply := func(manager string, force bool, doc string) (*corev1.ConfigMap, error) {
		opts := metav1.PatchOptions{FieldManager: manager}
		if force {
			opts.Force = ptr.To(true)
		}
		return cms.Patch(ctx, "ssa", types.ApplyPatchType, []byte(doc), opts)
	}

	// Apply creates a missing object.
	cm, err := apply("alice", false, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","labels":{"owner":"alice"}},"data":{"a":"1","b":"1"}}`)
	if err != nil {
		t.Fatalf("apply (create): %v", err)
	}
	if cm.UID == "" || cm.Data["a"] != "1" || cm.Labels["owner"] != "alice" {
		t.Errorf("applied object %+v", cm)
	}
	e := managedBy(cm, "alice", metav1.ManagedFieldsOperationApply)
	if e == nil || e.APIVersion != "v1" || e.FieldsType != "FieldsV1" || e.Time == nil {
		t.Fatalf("managedFields %+v: want an Apply entry of alice for v1", cm.ManagedFields)
	}
	for _, f := range []string{`"f:data"`, `"f:a"`, `"f:b"`, `"f:labels"`, `"f:owner"`} {
		if !strings.Contains(fieldsOf(t, e), f) {
			t.Errorf("alice's fields %s lack %s", fieldsOf(t, e), f)
		}
	}

	// A second manager setting alice's field conflicts.
	_, err = apply("bob", false, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2"}}`)
	st := expectError(t, err, 409, metav1.StatusReasonConflict, `Apply failed with 1 conflict: conflict with "alice": .data.a`)
	expectCause(t, st, metav1.CauseTypeFieldManagerConflict, ".data.a", `conflict with "alice"`)

	// bob may set fields nobody owns.
	cm, err = apply("bob", false, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"c":"3"}}`)
	if err != nil {
		t.Fatalf("apply of an unowned field: %v", err)
	}
	if cm.Data["a"] != "1" || cm.Data["c"] != "3" {
		t.Errorf("data %v after bob's apply", cm.Data)
	}

	// Forcing takes ownership.
	cm, err = apply("bob", true, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2","c":"3"}}`)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if cm.Data["a"] != "2" {
		t.Errorf("data.a %q after forced apply, want 2", cm.Data["a"])
	}
	if f := fieldsOf(t, managedBy(cm, "alice", metav1.ManagedFieldsOperationApply)); strings.Contains(f, `"f:a"`) || !strings.Contains(f, `"f:b"`) {
		t.Errorf("alice's fields after bob forced .data.a: %s", f)
	}
	if f := fieldsOf(t, managedBy(cm, "bob", metav1.ManagedFieldsOperationApply)); !strings.Contains(f, `"f:a"`) {
		t.Errorf("bob's fields after forcing: %s", f)
	}

	// A field dropped from a manager's apply, owned by nobody else, goes.
	cm, err = apply("alice", false, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","labels":{"owner":"alice"}},"data":{}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["b"]; ok {
		t.Errorf("data.b still there after alice stopped applying it: %v", cm.Data)
	}

	// An update by another client is recorded as an Update entry, and a
	// later apply of the field conflicts with it.
	cm.Data["c"] = "edited"
	cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "editor"})
	if err != nil {
		t.Fatal(err)
	}
	if e := managedBy(cm, "editor", metav1.ManagedFieldsOperationUpdate); e == nil || !strings.Contains(fieldsOf(t, e), `"f:c"`) {
		t.Errorf("managedFields %+v: want an Update entry of editor owning .data.c", cm.ManagedFields)
	}
	_, err = apply("bob", false, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2","c":"3"}}`)
	st = expectError(t, err, 409, metav1.StatusReasonConflict, "")
	expectCause(t, st, metav1.CauseTypeFieldManagerConflict, ".data.c", `conflict with "editor" using v1`)

	// Apply needs a field manager.
	_, err = cms.Patch(ctx, "ssa", types.ApplyPatchType, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"}}`), metav1.PatchOptions{})
	st = expectError(t, err, 422, metav1.StatusReasonInvalid, `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`)
	expectCause(t, st, metav1.CauseTypeFieldValueRequired, "fieldManager", "is required for apply patch")

	// A YAML apply body is accepted.
	if _, err := cms.Patch(ctx, "ssa-yaml", types.ApplyPatchType, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-yaml\ndata:\n  k: v\n"), metav1.PatchOptions{FieldManager: "yaml"}); err != nil {
		t.Errorf("YAML apply: %v", err)
	}

	t.Run("ListMergeKeys", func(t *testing.T) {
		deps := s.Client.AppsV1().Deployments(ns)
		doc := func(containers string) []byte {
			return []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"ssa"},"spec":{"selector":{"matchLabels":{"app":"ssa"}},"template":{"metadata":{"labels":{"app":"ssa"}},"spec":{"containers":[` + containers + `]}}}}`)
		}
		d, err := deps.Patch(ctx, "ssa", types.ApplyPatchType, doc(`{"name":"a","image":"busybox"}`), metav1.PatchOptions{FieldManager: "one"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("applied deployment not defaulted: generation %d replicas %v strategy %v", d.Generation, d.Spec.Replicas, d.Spec.Strategy)
		}
		if _, err := deps.Patch(ctx, "ssa", types.ApplyPatchType, doc(`{"name":"b","image":"nginx"}`), metav1.PatchOptions{FieldManager: "two"}); err != nil {
			t.Fatal(err)
		}
		d, err = deps.Get(ctx, "ssa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := containerNames(d)
		slices.Sort(got)
		if !slices.Equal(got, []string{"a:busybox", "b:nginx"}) {
			t.Errorf("containers of two appliers %v, want a and b", got)
		}
		// "one" drops its container.
		if d, err = deps.Patch(ctx, "ssa", types.ApplyPatchType, doc(`{"name":"b","image":"nginx"}`), metav1.PatchOptions{FieldManager: "one", Force: ptr.To(true)}); err != nil {
			t.Fatal(err)
		}
		if got := containerNames(d); !slices.Equal(got, []string{"b:nginx"}) {
			t.Errorf("containers %v, want [b:nginx] once nobody applies a", got)
		}
	})

	t.Run("DryRunApplyCreatesNothing", func(t *testing.T) {
		out, err := cms.Patch(ctx, "ssa-dry", types.ApplyPatchType, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa-dry"}}`), metav1.PatchOptions{FieldManager: "x", DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Name != "ssa-dry" {
			t.Errorf("dry-run apply answered %+v", out)
		}
		_, err = cms.Get(ctx, "ssa-dry", metav1.GetOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, `configmaps "ssa-dry" not found`)
	})
}
