package integration

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

type tb = testing.TB

// getPath walks maps and (by decimal index) slices.
func getPath(obj any, path ...string) (any, bool) {
	cur := obj
	for _, p := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// expectNested checks the value at path of an unstructured object.
func expectNested(t tb, u *unstructured.Unstructured, want any, path ...string) {
	t.Helper()
	got, ok := getPath(u.Object, path...)
	if !ok {
		t.Errorf("%s %s: %v is missing, want %v", u.GetKind(), u.GetName(), path, want)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %s: %v = %#v, want %#v", u.GetKind(), u.GetName(), path, got, want)
	}
}

// expectClusterIP checks that ip is in the default service CIDR
// 10.43.0.0/16.
func expectClusterIP(t tb, ip string) {
	t.Helper()
	var a, b, c, d int
	if n, _ := fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d); n != 4 || a != 10 || b != 43 || c > 255 || d > 255 {
		t.Errorf("clusterIP %q is not in 10.43.0.0/16", ip)
	}
}

func resourceClient(s dynamic.Interface, tc resourceCase, ns string) dynamic.ResourceInterface {
	if tc.namespaced {
		return s.Resource(tc.gvr).Namespace(ns)
	}
	return s.Resource(tc.gvr)
}

func newObject(tc resourceCase, name, ns string) *unstructured.Unstructured {
	u := decodeManifest(tc.manifest, ns)
	u.SetName(name)
	if tc.namespaced {
		u.SetNamespace(ns)
	}
	return u
}

// TestCRUD creates, reads, lists, updates, patches and deletes one object
// of every served resource, and checks the fields the server sets.
func TestCRUD(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	for _, tc := range resourceCases() {
		t.Run(tc.gvr.Resource+"."+tc.gvr.Group, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			rc := resourceClient(s.Dynamic, tc, ns)
			name := "crud-" + tc.gvr.Resource
			obj := newObject(tc, name, ns)
			setLabel(obj, "crud", tc.gvr.Resource)
			before := time.Now().Add(-time.Second).Truncate(time.Second)

			// create
			created, err := rc.Create(ctx, obj, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.GetAPIVersion() != tc.gvr.GroupVersion().String() || created.GetKind() != tc.kind {
				t.Errorf("created object is %s %s, want %s %s", created.GetAPIVersion(), created.GetKind(), tc.gvr.GroupVersion(), tc.kind)
			}
			if created.GetName() != name {
				t.Errorf("name %q, want %q", created.GetName(), name)
			}
			if tc.namespaced && created.GetNamespace() != ns {
				t.Errorf("namespace %q, want %q", created.GetNamespace(), ns)
			}
			if !tc.namespaced && created.GetNamespace() != "" {
				t.Errorf("cluster-scoped object has namespace %q", created.GetNamespace())
			}
			if created.GetUID() == "" {
				t.Error("uid not set")
			}
			if ts := created.GetCreationTimestamp(); ts.Time.Before(before) || ts.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("creationTimestamp %v is not now", ts)
			}
			rv := rvInt(t, created.GetResourceVersion())
			if g := created.GetGeneration(); g != tc.generation {
				t.Errorf("generation %d, want %d", g, tc.generation)
			}
			if created.GetDeletionTimestamp() != nil {
				t.Error("deletionTimestamp set on create")
			}
			mf := created.GetManagedFields()
			if len(mf) != 1 || mf[0].Manager != defaultManager() || mf[0].Operation != metav1.ManagedFieldsOperationUpdate || mf[0].APIVersion != tc.gvr.GroupVersion().String() {
				t.Errorf("managedFields %+v: want one Update entry of manager %s for %s", mf, defaultManager(), tc.gvr.GroupVersion())
			}
			if tc.check != nil {
				tc.check(t, created)
			}

			// get
			got, err := rc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
				t.Errorf("get returned uid %s rv %s, want %s %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
			}
			if !reflect.DeepEqual(got.Object, created.Object) {
				t.Errorf("get differs from create's answer:\n get    %v\n create %v", got.Object, created.Object)
			}

			// list
			list, err := rc.List(ctx, metav1.ListOptions{LabelSelector: "crud=" + tc.gvr.Resource})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(list.Items) != 1 || list.Items[0].GetUID() != created.GetUID() {
				t.Errorf("list has %d items, want exactly the created object", len(list.Items))
			}
			if list.GetKind() != tc.kind+"List" || list.GetAPIVersion() != tc.gvr.GroupVersion().String() {
				t.Errorf("list is %s %s, want %s %sList", list.GetAPIVersion(), list.GetKind(), tc.gvr.GroupVersion(), tc.kind)
			}
			if lrv := rvInt(t, list.GetResourceVersion()); lrv < rv {
				t.Errorf("list resourceVersion %d older than the created object's %d", lrv, rv)
			}

			// update
			upd := got.DeepCopy()
			tc.mutate(upd)
			updated, err := rc.Update(ctx, upd, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			rv2 := rvInt(t, updated.GetResourceVersion())
			if rv2 <= rv {
				t.Errorf("update: resourceVersion %d not after %d", rv2, rv)
			}
			wantGen := tc.generation
			if tc.generation > 0 && !tc.fixedGeneration {
				wantGen++
			}
			if updated.GetGeneration() != wantGen {
				t.Errorf("update: generation %d, want %d", updated.GetGeneration(), wantGen)
			}
			if updated.GetUID() != created.GetUID() || !updated.GetCreationTimestamp().Time.Equal(created.GetCreationTimestamp().Time) {
				t.Error("update changed uid or creationTimestamp")
			}
			again, err := rc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get after update: %v", err)
			}
			if !reflect.DeepEqual(again.Object, updated.Object) {
				t.Errorf("get after update differs from update's answer:\n get    %v\n update %v", again.Object, updated.Object)
			}

			// patch
			patched, err := rc.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if patched.GetLabels()["patched"] != "yes" || patched.GetLabels()["crud"] != tc.gvr.Resource {
				t.Errorf("patch: labels %v", patched.GetLabels())
			}
			rv3 := rvInt(t, patched.GetResourceVersion())
			if rv3 <= rv2 {
				t.Errorf("patch: resourceVersion %d not after %d", rv3, rv2)
			}
			if tc.labelsBumpGeneration {
				wantGen++
			}
			if patched.GetGeneration() != wantGen {
				t.Errorf("patch of labels: generation %d, want %d", patched.GetGeneration(), wantGen)
			}

			if tc.status != nil {
				testStatusSubresource(t, rc, patched, tc)
			} else {
				_, err := rc.UpdateStatus(ctx, patched, metav1.UpdateOptions{})
				expectError(t, err, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource")
			}

			// delete (in the background: batch/v1 jobs orphan by default)
			background := metav1.DeletePropagationBackground
			err = rc.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			if tc.gvr.Resource == "namespaces" {
				// Namespaces are emptied by a controller first.
				ns, err := rc.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get deleted namespace: %v", err)
				}
				if ns.GetDeletionTimestamp() == nil {
					t.Error("deleted namespace has no deletionTimestamp")
				}
				expectNested(t, ns, "Terminating", "status", "phase")
				return
			}
			_, err = rc.Get(ctx, name, metav1.GetOptions{})
			expectError(t, err, 404, metav1.StatusReasonNotFound, apierrors.NewNotFound(tc.gvr.GroupResource(), name).Error())
			list, err = rc.List(ctx, metav1.ListOptions{LabelSelector: "crud=" + tc.gvr.Resource})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(list.Items) != 0 {
				t.Errorf("list after delete has %d items", len(list.Items))
			}
			// A second delete is a 404.
			err = rc.Delete(ctx, name, metav1.DeleteOptions{})
			expectError(t, err, 404, metav1.StatusReasonNotFound, apierrors.NewNotFound(tc.gvr.GroupResource(), name).Error())
		})
	}
}

// contains reports whether got has every field of want (extra fields in
// got's maps are allowed; null fields count as missing).
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(g[k], v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// defaultManager is the field manager of client-go requests that name none:
// the user agent's first segment, the test binary's name.
func defaultManager() string {
	return strings.Split(rest.DefaultKubernetesUserAgent(), "/")[0]
}

// testStatusSubresource checks that the main resource ignores status and
// that /status changes only status.
func testStatusSubresource(t *testing.T, rc dynamic.ResourceInterface, cur *unstructured.Unstructured, tc resourceCase) {
	t.Helper()
	ctx := ctxFor(t)
	oldStatus, _ := getPath(cur.Object, "status")
	oldSpec, hasSpec := getPath(cur.Object, "spec")

	// A status written through the main resource is ignored.
	main := cur.DeepCopy()
	setField(main, tc.status, "status")
	setLabel(main, "main-update", "yes")
	out, err := rc.Update(ctx, main, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update with status: %v", err)
	}
	if got, _ := getPath(out.Object, "status"); !reflect.DeepEqual(got, oldStatus) {
		t.Errorf("update of the main resource changed status:\n got  %v\n want %v", got, oldStatus)
	}
	if out.GetLabels()["main-update"] != "yes" {
		t.Error("update with status: label not applied")
	}

	// /status takes the status and nothing else.
	st := out.DeepCopy()
	setField(st, tc.status, "status")
	if hasSpec {
		unstructured.RemoveNestedField(st.Object, "spec")
	}
	gen := out.GetGeneration()
	res, err := rc.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if got, _ := getPath(res.Object, "status"); !contains(got, tc.status) {
		t.Errorf("status after /status update:\n got  %v\n want %v", got, tc.status)
	}
	if hasSpec {
		if got, _ := getPath(res.Object, "spec"); !reflect.DeepEqual(got, oldSpec) {
			t.Errorf("/status update changed spec:\n got  %v\n want %v", got, oldSpec)
		}
	}
	if res.GetGeneration() != gen {
		t.Errorf("/status update changed generation %d to %d", gen, res.GetGeneration())
	}
	if rvInt(t, res.GetResourceVersion()) <= rvInt(t, out.GetResourceVersion()) {
		t.Error("/status update did not change resourceVersion")
	}
	// GET /status returns the whole object.
	viaStatus, err := rc.Get(ctx, cur.GetName(), metav1.GetOptions{}, "status")
	if err != nil {
		t.Fatalf("get status: %v", err)
	}
	if viaStatus.GetResourceVersion() != res.GetResourceVersion() || viaStatus.GetKind() != tc.kind {
		t.Errorf("GET /status: %s rv %s, want %s rv %s", viaStatus.GetKind(), viaStatus.GetResourceVersion(), tc.kind, res.GetResourceVersion())
	}
	// Managed fields record the status write under the status subresource.
	found := slices.ContainsFunc(res.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
		return e.Subresource == "status" && e.Operation == metav1.ManagedFieldsOperationUpdate
	})
	if !found {
		t.Errorf("managedFields %+v lack the status subresource's entry", res.GetManagedFields())
	}
}

// TestCreateOnUpdate checks the resources whose PUT creates a missing
// object (endpoints, events, leases, services: AllowCreateOnUpdate in their
// Kubernetes strategies) and that others answer 404.
func TestCreateOnUpdate(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	c := httpClient(t, s)
	byResource := map[string]resourceCase{}
	for _, tc := range resourceCases() {
		byResource[tc.gvr.GroupResource().String()] = tc
	}
	for _, c2 := range []struct {
		resource string
		creates  bool
	}{
		{"endpoints", true}, {"events", true}, {"leases.coordination.k8s.io", true}, {"services", true},
		{"configmaps", false}, {"deployments.apps", false}, {"secrets", false}, {"pods", false},
	} {
		tc := byResource[c2.resource]
		name := "put-" + tc.gvr.Resource
		obj := newObject(tc, name, ns)
		body, err := obj.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		prefix := "/apis/" + tc.gvr.GroupVersion().String()
		if tc.gvr.Group == "" {
			prefix = "/api/v1"
		}
		r := do(t, c, s, "PUT", prefix+"/namespaces/"+ns+"/"+tc.gvr.Resource+"/"+name, "application/json", body)
		if c2.creates {
			expectRaw(t, r, 201, "", "")
			got, err := resourceClient(s.Dynamic, tc, ns).Get(ctxFor(t), name, metav1.GetOptions{})
			if err != nil || got.GetUID() == "" || got.GetCreationTimestamp().Time.IsZero() {
				t.Fatalf("%s created by PUT: %v", c2.resource, err)
			}
			if c2.resource == "services" {
				ip, _, _ := unstructured.NestedString(got.Object, "spec", "clusterIP")
				expectClusterIP(t, ip)
			}
			// A second PUT updates: 200.
			expectRaw(t, do(t, c, s, "PUT", prefix+"/namespaces/"+ns+"/"+tc.gvr.Resource+"/"+name, "application/json", body), 200, "", "")
		} else {
			expectRaw(t, r, 404, metav1.StatusReasonNotFound, apierrors.NewNotFound(tc.gvr.GroupResource(), name).Error())
		}
	}
}
