package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// model is what the documents of one flavor are rendered from: the
// definitions, and the paths grouped by the document that holds them
// ("api/v1", "apis/apps/v1", and the discovery documents "api", "apis",
// "apis/apps", "version").
type model struct {
	defs map[string]*spec.Schema
	docs map[string][]*pathItem
}

// modelBuilder assembles a model from the served resources.
type modelBuilder struct {
	*defBuilder
	types    map[schema.GroupVersionKind]reflect.Type
	problems []string
}

// buildModel builds the model of flavor f. Resources whose kinds cannot be
// described are left out and reported in problems.
func buildModel(f flavor, scheme *runtime.Scheme, resources []Resource, merge *mergeInfo) (*model, []string) {
	types := scheme.AllKnownTypes()
	mb := &modelBuilder{
		defBuilder: newDefBuilder(f, gvkIndex(types, resources), merge),
		types:      types,
	}
	m := &model{defs: mb.defs, docs: map[string][]*pathItem{}}

	meta := resourceDefs{
		deleteOptions: mb.define(reflect.TypeOf(metav1.DeleteOptions{})),
		status:        mb.define(reflect.TypeOf(metav1.Status{})),
		watchEvent:    mb.define(reflect.TypeOf(metav1.WatchEvent{})),
		patch:         mb.define(reflect.TypeOf(metav1.Patch{})),
	}
	groups := map[string]bool{}
	gvs := map[schema.GroupVersion]bool{}
	for i := range resources {
		r := &resources[i]
		d, err := mb.resourceDefs(r, meta)
		if err != nil {
			mb.problems = append(mb.problems, err.Error())
			continue
		}
		gv := r.GVK.GroupVersion()
		key := gvPath(gv)
		if !gvs[gv] {
			gvs[gv] = true
			m.docs[key] = append(m.docs[key], apiResourcesPath(gv, mb.define(reflect.TypeOf(metav1.APIResourceList{}))))
		}
		m.docs[key] = append(m.docs[key], resourcePaths(r, d)...)
		if gv.Group != "" && !groups[gv.Group] {
			groups[gv.Group] = true
			name := groupName(gv.Group)
			m.docs["apis/"+gv.Group] = []*pathItem{discoveryPath("/apis/"+gv.Group+"/", "get"+name+"APIGroup",
				"get information of a group", lowerFirst(name), mb.define(reflect.TypeOf(metav1.APIGroup{})))}
		}
	}
	m.docs["api"] = []*pathItem{discoveryPath("/api/", "getCoreAPIVersions", "get available API versions", "core",
		mb.define(reflect.TypeOf(metav1.APIVersions{})))}
	m.docs["apis"] = []*pathItem{discoveryPath("/apis/", "getAPIVersions", "get available API versions", "apis",
		mb.define(reflect.TypeOf(metav1.APIGroupList{})))}
	v := discoveryPath("/version/", "getCodeVersion", "get the code version", "version", mb.define(reflect.TypeOf(version.Info{})))
	v.ops[0].produces = []string{mimeJSON}
	m.docs["version"] = []*pathItem{v}
	return m, mb.problems
}

// resourceDefs defines the kinds of a resource and its subresources.
func (mb *modelBuilder) resourceDefs(r *Resource, meta resourceDefs) (resourceDefs, error) {
	d := meta
	d.sub = map[string]string{}
	var err error
	if d.kind, err = mb.kindDef(r, r.GVK); err != nil {
		return d, err
	}
	if d.list, err = mb.kindDef(r, r.ListGVK); err != nil {
		return d, err
	}
	for _, sub := range r.Subresources {
		if sub.Name == "log" || sub.GVK.Kind == "" {
			continue
		}
		if d.sub[sub.Name], err = mb.kindDef(r, sub.GVK); err != nil {
			return d, fmt.Errorf("subresource %s of %s: %w", sub.Name, r.Resource, err)
		}
	}
	return d, nil
}

// kindDef defines the kind gvk (of resource r) and returns its name.
func (mb *modelBuilder) kindDef(r *Resource, gvk schema.GroupVersionKind) (string, error) {
	if r.Schema != nil && gvk == r.GVK {
		return mb.customDef(r), nil
	}
	if r.Schema != nil && gvk == r.ListGVK {
		return mb.customListDef(r), nil
	}
	t, ok := mb.types[gvk]
	if !ok {
		return "", fmt.Errorf("kind %s of resource %s is not registered in the scheme", gvk, r.Resource)
	}
	return mb.define(t), nil
}

// customName names a kind that has no Go type as Kubernetes names custom
// resources: the group reversed, the version, the kind
// (stable.example.com/v1 CronTab is com.example.stable.v1.CronTab).
func customName(gvk schema.GroupVersionKind) string {
	labels := strings.Split(gvk.Group, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(append(labels, gvk.Version, gvk.Kind), ".")
}

// customDef defines a kind from the schema its resource brings.
func (mb *modelBuilder) customDef(r *Resource) string {
	name := customName(r.GVK)
	if _, ok := mb.defs[name]; ok {
		return name
	}
	s := *r.Schema
	if !mb.v3 {
		s = swagger2Schema(s)
	}
	s.Extensions = nil
	for k, v := range r.Schema.Extensions {
		s.AddExtension(k, v)
	}
	props := map[string]spec.Schema{}
	for k, v := range s.Properties {
		props[k] = v
	}
	props["apiVersion"] = mb.typeMetaProp("apiVersion")
	props["kind"] = mb.typeMetaProp("kind")
	props["metadata"] = mb.decorate(mb.ref(mb.define(reflect.TypeOf(metav1.ObjectMeta{}))),
		"Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", nil, nil)
	s.Properties = props
	s.Type = spec.StringOrArray{"object"}
	s.AddExtension(extGVK, gvkExtension([]schema.GroupVersionKind{r.GVK}))
	mb.defs[name] = &s
	return name
}

// swagger2Schema drops from an OpenAPI v3 schema what Swagger 2.0 cannot
// say (nullable, oneOf, anyOf, not), as Kubernetes does when it publishes
// custom resources in /openapi/v2: the v2 document must stay parseable.
func swagger2Schema(s spec.Schema) spec.Schema {
	s.Nullable = false
	s.OneOf, s.AnyOf, s.Not = nil, nil, nil
	if s.Properties != nil {
		props := make(map[string]spec.Schema, len(s.Properties))
		for k, v := range s.Properties {
			props[k] = swagger2Schema(v)
		}
		s.Properties = props
	}
	if s.Items != nil && s.Items.Schema != nil {
		item := swagger2Schema(*s.Items.Schema)
		s.Items = &spec.SchemaOrArray{Schema: &item}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		v := swagger2Schema(*s.AdditionalProperties.Schema)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &v}
	}
	if s.AllOf != nil {
		all := make([]spec.Schema, len(s.AllOf))
		for i := range s.AllOf {
			all[i] = swagger2Schema(s.AllOf[i])
		}
		s.AllOf = all
	}
	return s
}

// customListDef defines the list kind of a resource that brings its own
// schema.
func (mb *modelBuilder) customListDef(r *Resource) string {
	name := customName(r.ListGVK)
	if _, ok := mb.defs[name]; ok {
		return name
	}
	item := mb.ref(mb.customDef(r))
	s := spec.Schema{}
	s.Description = r.ListGVK.Kind + " is a list of " + r.GVK.Kind
	s.Type = spec.StringOrArray{"object"}
	s.Required = []string{"items"}
	s.Properties = map[string]spec.Schema{
		"apiVersion": mb.typeMetaProp("apiVersion"),
		"kind":       mb.typeMetaProp("kind"),
		"items":      mb.decorate(*spec.ArrayProperty(&item), "List of "+r.Resource, nil, nil),
		"metadata": mb.decorate(mb.ref(mb.define(reflect.TypeOf(metav1.ListMeta{}))),
			"Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", nil, nil),
	}
	s.AddExtension(extGVK, gvkExtension([]schema.GroupVersionKind{r.ListGVK}))
	mb.defs[name] = &s
	return name
}

// typeMetaProp is the kind or apiVersion property, documented as TypeMeta
// documents it.
func (mb *modelBuilder) typeMetaProp(name string) spec.Schema {
	s := *spec.StringProperty()
	s.Description = metav1.TypeMeta{}.SwaggerDoc()[name]
	return s
}

// gvkIndex maps each Go type to the kinds it is served as, for the
// x-kubernetes-group-version-kind extension: every external kind the
// scheme registers it as, the resources' own kinds, and, as Kubernetes
// lists them, every group version of a built-in resource for DeleteOptions
// and WatchEvent.
func gvkIndex(types map[schema.GroupVersionKind]reflect.Type, resources []Resource) map[reflect.Type][]schema.GroupVersionKind {
	set := map[reflect.Type]map[schema.GroupVersionKind]bool{}
	add := func(t reflect.Type, gvk schema.GroupVersionKind) {
		if set[t] == nil {
			set[t] = map[schema.GroupVersionKind]bool{}
		}
		set[t][gvk] = true
	}
	for gvk, t := range types {
		if gvk.Version != runtime.APIVersionInternal {
			add(t, gvk)
		}
	}
	perGV := []reflect.Type{reflect.TypeOf(metav1.DeleteOptions{}), reflect.TypeOf(metav1.WatchEvent{})}
	for _, r := range resources {
		for _, gvk := range []schema.GroupVersionKind{r.GVK, r.ListGVK} {
			if t, ok := types[gvk]; ok {
				add(t, gvk)
			}
		}
		if r.Schema != nil {
			// Custom resources come and go; listing their group versions
			// here would change every document each time.
			continue
		}
		for _, t := range perGV {
			add(t, r.GVK.GroupVersion().WithKind(t.Name()))
		}
	}
	out := make(map[reflect.Type][]schema.GroupVersionKind, len(set))
	for t, gvks := range set {
		list := make([]schema.GroupVersionKind, 0, len(gvks))
		for gvk := range gvks {
			list = append(list, gvk)
		}
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
		out[t] = list
	}
	return out
}
