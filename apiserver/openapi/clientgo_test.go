package openapi

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// deploymentGVK is apps/v1 Deployment.
var deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

// clientFor serves a handler over resources and returns client-go's
// discovery client for it.
func clientFor(t *testing.T, resources []Resource) *discovery.DiscoveryClient {
	t.Helper()
	srv := httptest.NewServer(New(testScheme(t), func() []Resource { return resources }))
	t.Cleanup(srv.Close)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// hasGVK reads x-kubernetes-group-version-kind as kubectl does: a single
// object on operations.
func hasGVK(ext spec.Extensions, gvk schema.GroupVersionKind) bool {
	var m map[string]string
	if err := ext.GetObject(extGVK, &m); err != nil {
		return false
	}
	return m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind
}

func TestOpenAPI3Root(t *testing.T) {
	root := openapi3.NewRoot(clientFor(t, testResources()).OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	want := map[schema.GroupVersion]bool{{Version: "v1"}: true, {Group: "apps", Version: "v1"}: true, {Group: "batch", Version: "v1"}: true}
	for _, gv := range gvs {
		delete(want, gv)
	}
	if len(want) > 0 {
		t.Errorf("group versions %v lack %v", gvs, want)
	}
	doc, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	// What kubectl's QueryParamVerifierV3 and apply's patcher check: every
	// PATCH operation of the kind takes fieldValidation and strategic merge
	// patches (either may be the one they look at first).
	patches := 0
	for path, item := range doc.Paths.Paths {
		if item.Patch == nil || !hasGVK(item.Patch.Extensions, deploymentGVK) {
			continue
		}
		patches++
		found := false
		for _, p := range item.Patch.Parameters {
			found = found || p.Name == "fieldValidation"
		}
		if !found {
			t.Errorf("PATCH %s lacks the fieldValidation parameter", path)
		}
		if _, ok := item.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
			t.Errorf("PATCH %s does not take strategic merge patches", path)
		}
	}
	if patches != 2 {
		t.Errorf("%d PATCH operations of Deployment, want 2 (object and status)", patches)
	}
	// What kubectl explain looks for: the kind's schema by its GVK.
	found := false
	for _, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if err := s.Extensions.GetObject(extGVK, &gvks); err == nil {
			for _, g := range gvks {
				found = found || (g["group"] == "apps" && g["kind"] == "Deployment")
			}
		}
	}
	if !found {
		t.Error("no schema carries the Deployment GVK")
	}
}

// deployments returns original, modified and current versions of a
// deployment, as kubectl apply sees them.
func deployments() (original, modified, current []byte) {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "web", Image: "nginx:1", Ports: []corev1.ContainerPort{{ContainerPort: 80}}},
				{Name: "sidecar", Image: "envoy:1"},
			}}},
		},
	}
	original, _ = json.Marshal(d)
	d.Spec.Template.Spec.Containers[1].Image = "envoy:2"
	d.Spec.Template.Spec.Containers[0].Ports = append(d.Spec.Template.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 443})
	modified, _ = json.Marshal(d)
	d.Spec.Template.Spec.Containers[1].Image = "envoy:1"
	d.Spec.Template.Spec.Containers[0].Ports = d.Spec.Template.Spec.Containers[0].Ports[:1]
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "injected", Image: "mesh"})
	current, _ = json.Marshal(d)
	return original, modified, current
}

// TestStrategicMergePatch computes kubectl apply's patch with the patch
// metadata of the v3 and v2 documents, as kubectl does, and compares it
// with the patch computed from the Go struct tags.
func TestStrategicMergePatch(t *testing.T) {
	original, modified, current := deployments()
	fromStruct, err := strategicpatch.NewPatchMetaFromStruct(&appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, fromStruct, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(want), "$setElementOrder/containers") {
		t.Fatalf("reference patch does not merge containers by name: %s", want)
	}
	dc := clientFor(t, testResources())

	doc, err := openapi3.NewRoot(dc.OpenAPIV3()).GVSpec(deploymentGVK.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	var kind *spec.Schema
	for _, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if s.Extensions.GetObject(extGVK, &gvks) == nil && len(gvks) == 1 && gvks[0]["kind"] == "Deployment" {
			kind = s
		}
	}
	v3, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current,
		strategicpatch.PatchMetaFromOpenAPIV3{Schema: kind, SchemaList: doc.Components.Schemas}, false)
	if err != nil {
		t.Fatalf("patch from v3: %v", err)
	}
	assertSameJSON(t, "v3 patch", v3, want)

	v2doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema (protobuf v2): %v", err)
	}
	models, err := proto.NewOpenAPIData(v2doc)
	if err != nil {
		t.Fatalf("parse v2: %v", err)
	}
	model := modelByGVK(t, models, deploymentGVK)
	v2, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, strategicpatch.NewPatchMetaFromOpenAPI(model), false)
	if err != nil {
		t.Fatalf("patch from v2: %v", err)
	}
	assertSameJSON(t, "v2 patch", v2, want)
}

// modelByGVK finds a model as kubectl's openapi.Resources does: by its
// x-kubernetes-group-version-kind extension.
func modelByGVK(t *testing.T, models proto.Models, gvk schema.GroupVersionKind) proto.Schema {
	t.Helper()
	for _, name := range models.ListModels() {
		m := models.LookupModel(name)
		list, _ := m.GetExtensions()[extGVK].([]interface{})
		for _, g := range list {
			// The v2 parser decodes extensions with yaml.v2, the v3 one with yaml.v3.
			gm := map[string]interface{}{}
			switch g := g.(type) {
			case map[interface{}]interface{}:
				for k, v := range g {
					gm[k.(string)] = v
				}
			case map[string]interface{}:
				gm = g
			}
			if gm["group"] == gvk.Group && gm["version"] == gvk.Version && gm["kind"] == gvk.Kind {
				return m
			}
		}
	}
	t.Fatalf("no model for %v", gvk)
	return nil
}

func assertSameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w interface{}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_ = json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s differs from the struct-tag patch:\n got %s\nwant %s", what, got, want)
	}
}

// TestProtoModels parses both documents with the parsers kubectl explain
// and validation use.
func TestProtoModels(t *testing.T) {
	dc := clientFor(t, testResources())
	v2doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := proto.NewOpenAPIData(v2doc)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := paths["apis/apps/v1"].Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	v3doc, err := openapi_v3.ParseDocument(raw)
	if err != nil {
		t.Fatalf("gnostic v3: %v", err)
	}
	v3, err := proto.NewOpenAPIV3Data(v3doc)
	if err != nil {
		t.Fatalf("v3 models: %v", err)
	}
	for name, models := range map[string]proto.Models{"v2": v2, "v3": v3} {
		kind, ok := modelByGVK(t, models, deploymentGVK).(*proto.Kind)
		if !ok {
			t.Fatalf("%s: Deployment is not a kind", name)
		}
		if _, ok := kind.Fields["spec"]; !ok || kind.GetDescription() == "" {
			t.Errorf("%s: Deployment fields %v, description %q", name, kind.Keys(), kind.GetDescription())
		}
		spec, ok := models.LookupModel("io.k8s.api.apps.v1.DeploymentSpec").(*proto.Kind)
		if !ok || !reflect.DeepEqual(spec.RequiredFields, []string{"selector", "template"}) {
			t.Errorf("%s: DeploymentSpec %+v", name, spec)
		}
	}
}

// TestTypeConverter builds client-go's structured-merge-diff type
// converter from the v3 documents of every built-in kind, as server-side
// apply clients do, and converts objects with it.
func TestTypeConverter(t *testing.T) {
	resources := allResources(testScheme(t))
	tc, err := openapi.NewTypeConverter(clientFor(t, resources).OpenAPIV3(), false)
	if err != nil {
		t.Fatalf("type converter: %v", err)
	}
	surge := intstr.FromString("25%")
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.Now()},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "nginx",
				Ports:     []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
			}}}},
		},
	}
	if _, err := tc.ObjectToTyped(d); err != nil {
		t.Errorf("convert deployment: %v", err)
	}
	var u unstructured.Unstructured
	data, _ := yaml.Marshal(d)
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(u.Object, int64(1), "spec", "template", "spec", "containers", "0", "resources", "limits", "memory")
	if err := unstructured.SetNestedField(u.Object, "x", "spec", "bogus"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ObjectToTyped(&u); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("an unknown field converted: %v", err)
	}
	// Duplicate keys of an associative list are caught: the list type
	// and keys made it through.
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "a"}}}}
	if _, err := tc.ObjectToTyped(pod); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("containers with the same name converted: %v", err)
	}
}

// TestGroupVersionDocumentsDecode checks every document parses as the
// spec3 types client-go uses.
func TestGroupVersionDocumentsDecode(t *testing.T) {
	paths, err := clientFor(t, testResources()).OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	for key, gv := range paths {
		raw, err := gv.Schema("application/json")
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		var doc spec3.OpenAPI
		if err := json.Unmarshal(raw, &doc); err != nil || doc.Paths == nil || len(doc.Paths.Paths) == 0 {
			t.Errorf("%s: %v (%d paths)", key, err, len(doc.Paths.Paths))
		}
	}
}
