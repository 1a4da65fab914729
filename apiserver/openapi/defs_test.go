package openapi

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// testModel builds the model of flavor f over testResources.
func testModel(t *testing.T, v3 bool) *model {
	t.Helper()
	s := testScheme(t)
	merge, err := builtinMergeInfo(s)
	if err != nil {
		t.Fatal(err)
	}
	m, problems := buildModel(flavor{v3: v3}, s, testResources(), merge)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return m
}

func def(t *testing.T, m *model, name string) *spec.Schema {
	t.Helper()
	s, ok := m.defs[name]
	if !ok {
		t.Fatalf("no definition %s", name)
	}
	return s
}

func prop(t *testing.T, s *spec.Schema, name string) spec.Schema {
	t.Helper()
	p, ok := s.Properties[name]
	if !ok {
		t.Fatalf("no property %s", name)
	}
	return p
}

// refOf returns the $ref of a property, looking through allOf.
func refOf(s spec.Schema) string {
	if len(s.AllOf) == 1 {
		return s.AllOf[0].Ref.String()
	}
	return s.Ref.String()
}

func TestDefName(t *testing.T) {
	cases := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeOf(appsv1.Deployment{}), "io.k8s.api.apps.v1.Deployment"},
		{reflect.TypeOf(metav1.ObjectMeta{}), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
	}
	for _, c := range cases {
		if got := defName(c.typ); got != c.want {
			t.Errorf("defName(%v) = %q, want %q", c.typ, got, c.want)
		}
	}
}

func TestDeploymentDefinition(t *testing.T) {
	for _, v3 := range []bool{false, true} {
		m := testModel(t, v3)
		prefix := flavor{v3: v3}.refPrefix()
		d := def(t, m, "io.k8s.api.apps.v1.Deployment")
		if d.Description != "Deployment enables declarative updates for Pods and ReplicaSets." {
			t.Errorf("v3=%v: description %q", v3, d.Description)
		}
		if len(d.Required) != 0 {
			t.Errorf("v3=%v: Deployment requires %v, want nothing (spec is optional)", v3, d.Required)
		}
		for _, p := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
			prop(t, d, p)
		}
		spec := prop(t, d, "spec")
		if got := refOf(spec); got != prefix+"io.k8s.api.apps.v1.DeploymentSpec" {
			t.Errorf("v3=%v: spec ref %q", v3, got)
		}
		if spec.Description != "Specification of the desired behavior of the Deployment." {
			t.Errorf("v3=%v: spec description %q", v3, spec.Description)
		}
		if v3 && (len(spec.AllOf) != 1 || spec.Ref.String() != "") {
			t.Errorf("v3 ref with a description must be wrapped in allOf: %+v", spec)
		}
		if !v3 && spec.Ref.String() == "" {
			t.Errorf("v2 ref must be direct: %+v", spec)
		}
		if got := prop(t, d, "kind").Description; got == "" {
			t.Errorf("v3=%v: kind has no description (from TypeMeta)", v3)
		}
		gvks, ok := d.Extensions[extGVK].([]interface{})
		if !ok || len(gvks) != 1 || !reflect.DeepEqual(gvks[0], map[string]interface{}{"group": "apps", "version": "v1", "kind": "Deployment"}) {
			t.Errorf("v3=%v: gvk extension %#v", v3, d.Extensions[extGVK])
		}
		ds := def(t, m, "io.k8s.api.apps.v1.DeploymentSpec")
		if !reflect.DeepEqual(ds.Required, []string{"selector", "template"}) {
			t.Errorf("v3=%v: DeploymentSpec required %v", v3, ds.Required)
		}
		if s := prop(t, ds, "strategy").Extensions[extPatchStrategy]; s != "retainKeys" {
			t.Errorf("v3=%v: strategy patch strategy %v", v3, s)
		}
		if got := prop(t, ds, "replicas"); got.Type[0] != "integer" || got.Format != "int32" {
			t.Errorf("v3=%v: replicas %v/%v", v3, got.Type, got.Format)
		}
		ru := def(t, m, "io.k8s.api.apps.v1.RollingUpdateDeployment")
		if got := refOf(prop(t, ru, "maxSurge")); got != prefix+"io.k8s.apimachinery.pkg.util.intstr.IntOrString" {
			t.Errorf("v3=%v: maxSurge ref %q", v3, got)
		}
		ios := def(t, m, "io.k8s.apimachinery.pkg.util.intstr.IntOrString")
		if ios.Format != "int-or-string" || ios.Extensions[extIntOrString] != true {
			t.Errorf("v3=%v: IntOrString %+v", v3, ios)
		}
		tm := def(t, m, "io.k8s.apimachinery.pkg.apis.meta.v1.Time")
		if len(tm.Type) != 1 || tm.Type[0] != "string" || tm.Format != "date-time" {
			t.Errorf("v3=%v: Time %+v", v3, tm)
		}
		ls := def(t, m, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")
		if ls.Extensions[extMapType] != "atomic" {
			t.Errorf("v3=%v: LabelSelector map type %v", v3, ls.Extensions[extMapType])
		}
		if lt := prop(t, ls, "matchExpressions").Extensions[extListType]; lt != "atomic" {
			t.Errorf("v3=%v: matchExpressions list type %v", v3, lt)
		}
	}
}

func TestContainerDefinitions(t *testing.T) {
	for _, v3 := range []bool{false, true} {
		m := testModel(t, v3)
		prefix := flavor{v3: v3}.refPrefix()
		c := def(t, m, "io.k8s.api.core.v1.Container")
		if !reflect.DeepEqual(c.Required, []string{"name"}) {
			t.Errorf("v3=%v: Container required %v, want [name]", v3, c.Required)
		}
		ps := def(t, m, "io.k8s.api.core.v1.PodSpec")
		containers := prop(t, ps, "containers")
		wantExt := map[string]interface{}{
			extPatchStrategy: "merge", extPatchMergeKey: "name", extListType: "map", extListMapKeys: []string{"name"},
		}
		for k, want := range wantExt {
			if got := containers.Extensions[k]; !reflect.DeepEqual(got, want) {
				t.Errorf("v3=%v: containers %s = %#v, want %#v", v3, k, got, want)
			}
		}
		if containers.Items == nil || refOf(*containers.Items.Schema) != prefix+"io.k8s.api.core.v1.Container" {
			t.Errorf("v3=%v: containers items %+v", v3, containers.Items)
		}
		ports := prop(t, c, "ports")
		if got := ports.Extensions[extListMapKeys]; !reflect.DeepEqual(got, []string{"containerPort", "protocol"}) {
			t.Errorf("v3=%v: ports list-map-keys %v", v3, got)
		}
		if got := ports.Extensions[extPatchMergeKey]; got != "containerPort" {
			t.Errorf("v3=%v: ports merge key %v", v3, got)
		}
		protocol := prop(t, def(t, m, "io.k8s.api.core.v1.ContainerPort"), "protocol")
		if v3 && protocol.Default != "TCP" {
			t.Errorf("v3: protocol default %v, want TCP", protocol.Default)
		}
		if !v3 && protocol.Default != nil {
			t.Errorf("v2 keeps no defaults, protocol has %v", protocol.Default)
		}
		if got := prop(t, c, "args").Extensions[extListType]; got != "atomic" {
			t.Errorf("v3=%v: args list type %v", v3, got)
		}

		limits := prop(t, def(t, m, "io.k8s.api.core.v1.ResourceRequirements"), "limits")
		if limits.AdditionalProperties == nil || refOf(*limits.AdditionalProperties.Schema) != prefix+"io.k8s.apimachinery.pkg.api.resource.Quantity" {
			t.Errorf("v3=%v: limits %+v", v3, limits)
		}
		q := def(t, m, "io.k8s.apimachinery.pkg.api.resource.Quantity")
		if v3 {
			if len(q.OneOf) != 2 || q.OneOf[0].Type[0] != "string" || q.OneOf[1].Type[0] != "number" {
				t.Errorf("v3 Quantity %+v, want oneOf string, number", q)
			}
		} else if len(q.Type) != 1 || q.Type[0] != "string" {
			t.Errorf("v2 Quantity %+v, want string", q)
		}
		if q.Description == "" {
			t.Errorf("v3=%v: Quantity has no description", v3)
		}

		data := prop(t, def(t, m, "io.k8s.api.core.v1.Secret"), "data")
		if data.AdditionalProperties == nil || data.AdditionalProperties.Schema.Format != "byte" {
			t.Errorf("v3=%v: Secret data %+v", v3, data)
		}
		raw := def(t, m, "io.k8s.apimachinery.pkg.runtime.RawExtension")
		if len(raw.Type) != 1 || raw.Type[0] != "object" || len(raw.Properties) != 0 {
			t.Errorf("v3=%v: RawExtension %+v", v3, raw)
		}
		fields := def(t, m, "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1")
		if len(fields.Type) != 1 || fields.Type[0] != "object" || len(fields.Properties) != 0 {
			t.Errorf("v3=%v: FieldsV1 %+v", v3, fields)
		}
	}
}

func TestMetaKindsListEveryGroupVersion(t *testing.T) {
	m := testModel(t, false)
	for _, name := range []string{"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"} {
		gvks, _ := def(t, m, name).Extensions[extGVK].([]interface{})
		seen := map[string]bool{}
		for _, g := range gvks {
			gm := g.(map[string]interface{})
			seen[gm["group"].(string)+"/"+gm["version"].(string)] = true
		}
		for _, gv := range []string{"/v1", "apps/v1", "batch/v1", "policy/v1"} {
			if !seen[gv] {
				t.Errorf("%s lacks group version %s in %v", name, gv, gvks)
			}
		}
	}
}

func TestEveryBuiltinKindBuilds(t *testing.T) {
	s := testScheme(t)
	merge, err := builtinMergeInfo(s)
	if err != nil {
		t.Fatal(err)
	}
	resources := allResources(s)
	if len(resources) < 50 {
		t.Fatalf("only %d resources found in the scheme", len(resources))
	}
	for _, v3 := range []bool{false, true} {
		m, problems := buildModel(flavor{v3: v3}, s, resources, merge)
		if len(problems) > 0 {
			t.Fatalf("v3=%v problems: %v", v3, problems)
		}
		// Every reference must resolve.
		prefix := flavor{v3: v3}.refPrefix()
		for name, d := range m.defs {
			walkRefs(d, func(ref string) {
				if _, ok := m.defs[ref[len(prefix):]]; !ok {
					t.Errorf("v3=%v: %s refers to missing %s", v3, name, ref)
				}
			})
		}
	}
}
