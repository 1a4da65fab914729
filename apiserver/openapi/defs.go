package openapi

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension names used in the documents.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extAction        = "x-kubernetes-action"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
	extIntOrString   = "x-kubernetes-int-or-string"
)

const quantityName = "io.k8s.apimachinery.pkg.api.resource.Quantity"

// flavor selects the dialect of the definitions: Swagger 2.0 for
// /openapi/v2, OpenAPI 3.0 for /openapi/v3. They differ as Kubernetes'
// documents do: v3 refs live under #/components/schemas and are wrapped in
// allOf when they carry siblings, v3 keeps defaults (v2 prunes them), and
// Quantity is oneOf string or number in v3.
type flavor struct{ v3 bool }

func (f flavor) refPrefix() string {
	if f.v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

func (f flavor) ref(name string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(f.refPrefix() + name)}}
}

// The interfaces apimachinery types with a custom JSON form implement to
// tell OpenAPI generators their schema.
type openAPITyper interface {
	OpenAPISchemaType() []string
	OpenAPISchemaFormat() string
}

type openAPIV3OneOfTyper interface {
	OpenAPIV3OneOfTypes() []string
}

type swaggerDocer interface {
	SwaggerDoc() map[string]string
}

// defBuilder derives definitions from Go types by reflection.
type defBuilder struct {
	flavor
	gvks  map[reflect.Type][]schema.GroupVersionKind
	merge *mergeInfo
	defs  map[string]*spec.Schema
	names map[reflect.Type]string
}

func newDefBuilder(f flavor, gvks map[reflect.Type][]schema.GroupVersionKind, merge *mergeInfo) *defBuilder {
	return &defBuilder{
		flavor: f,
		gvks:   gvks,
		merge:  merge,
		defs:   map[string]*spec.Schema{},
		names:  map[reflect.Type]string{},
	}
}

// defName names a Go type as Kubernetes names its definitions: the package
// path with its host reversed, dots for slashes, then the type name.
// k8s.io/api/apps/v1.Deployment becomes io.k8s.api.apps.v1.Deployment.
func defName(t reflect.Type) string {
	pkg := t.PkgPath()
	host, rest, _ := strings.Cut(pkg, "/")
	labels := strings.Split(host, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	name := strings.Join(labels, ".")
	if rest != "" {
		name += "." + strings.ReplaceAll(rest, "/", ".")
	}
	return name + "." + t.Name()
}

// define makes sure the named type t has a definition and returns its name.
func (b *defBuilder) define(t reflect.Type) string {
	if name, ok := b.names[t]; ok {
		return name
	}
	name := defName(t)
	b.names[t] = name
	s := &spec.Schema{}
	b.defs[name] = s // before recursing: types may refer to themselves
	*s = b.typeDef(t, name)
	if gvks := b.gvks[t]; len(gvks) > 0 {
		s.AddExtension(extGVK, gvkExtension(gvks))
	}
	return name
}

func gvkExtension(gvks []schema.GroupVersionKind) []interface{} {
	out := make([]interface{}, 0, len(gvks))
	for _, gvk := range gvks {
		out = append(out, gvkMap(gvk))
	}
	return out
}

func gvkMap(gvk schema.GroupVersionKind) map[string]interface{} {
	return map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// typeDef builds the definition of a named type.
func (b *defBuilder) typeDef(t reflect.Type, name string) spec.Schema {
	var s spec.Schema
	s.Description = typeDescription(t)
	if typer, ok := asInterface[openAPITyper](t); ok {
		if oneOf, ok := asInterface[openAPIV3OneOfTyper](t); ok && b.v3 && name == quantityName {
			// Kubernetes publishes Quantity as "string or number" in v3;
			// IntOrString stays a string with format int-or-string.
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				s.OneOf = append(s.OneOf, *new(spec.Schema).Typed(typ, ""))
			}
			return s
		}
		s.Type = typer.OpenAPISchemaType()
		s.Format = typer.OpenAPISchemaFormat()
		if s.Format == "int-or-string" {
			s.AddExtension(extIntOrString, true)
		}
		return s
	}
	if t.Kind() != reflect.Struct || customJSON(t) {
		// RawExtension, FieldsV1 and the like: free-form JSON objects.
		s.Type = spec.StringOrArray{"object"}
		return s
	}
	s.Type = spec.StringOrArray{"object"}
	for _, f := range structFields(t) {
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[f.name] = b.fieldSchema(name, f)
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	if mt := b.merge.structMapType(name); mt != "" {
		s.AddExtension(extMapType, mt)
	}
	return s
}

// asInterface reports whether values (or pointers) of t implement I.
func asInterface[I any](t reflect.Type) (I, bool) {
	if v, ok := reflect.Zero(t).Interface().(I); ok {
		return v, true
	}
	v, ok := reflect.New(t).Interface().(I)
	return v, ok
}

// customJSON reports a struct that marshals itself to something other than
// its fields, so its fields say nothing about its JSON form.
func customJSON(t reflect.Type) bool {
	m, ok := reflect.PointerTo(t).MethodByName("MarshalJSON")
	return ok && m.Type.NumIn() == 1
}

// field is one JSON property of a struct, inline members flattened.
type field struct {
	name       string
	typ        reflect.Type
	doc        string
	required   bool
	omitEmpty  bool
	patchStrat string
	patchKey   string
}

// structFields lists the JSON properties of a struct as encoding/json and
// Kubernetes' OpenAPI generator see them, inline members flattened.
func structFields(t reflect.Type) []field {
	docs := map[string]string{}
	if d, ok := asInterface[swaggerDocer](t); ok {
		docs = d.SwaggerDoc()
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,") || (sf.Anonymous && name == "")
		if inline {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, structFields(ft)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = sf.Name
		}
		omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		out = append(out, field{
			name:       name,
			typ:        sf.Type,
			doc:        docs[name],
			required:   !omit,
			omitEmpty:  omit,
			patchStrat: sf.Tag.Get("patchStrategy"),
			patchKey:   sf.Tag.Get("patchMergeKey"),
		})
	}
	return out
}

// fieldSchema builds the schema of property f of definition owner.
func (b *defBuilder) fieldSchema(owner string, f field) spec.Schema {
	t := f.typ
	pointer := t.Kind() == reflect.Pointer
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := b.valueSchema(t)
	ext := spec.Extensions{}
	if f.patchStrat != "" {
		ext.Add(extPatchStrategy, f.patchStrat)
	}
	if f.patchKey != "" {
		ext.Add(extPatchMergeKey, f.patchKey)
	}
	info := b.merge.field(owner, f.name)
	switch {
	case s.Items != nil && info.listType != "":
		ext.Add(extListType, info.listType)
		if len(info.listKeys) > 0 {
			ext.Add(extListMapKeys, info.listKeys)
		}
	case info.mapType != "" && (s.AdditionalProperties != nil || s.Ref.String() != ""):
		ext.Add(extMapType, info.mapType)
	}
	var def interface{}
	if b.v3 {
		if info.known {
			def = info.def
		} else {
			def = b.zeroDefault(t, pointer, f.omitEmpty)
		}
	}
	doc := f.doc
	if vs, ok := enumOf(t); ok {
		// A property of an enum type (not a list or map of them) lists the
		// values in its description too, as Kubernetes' generator does.
		doc = enumDescription(doc, vs)
	}
	return b.decorate(s, doc, def, ext)
}

// decorate adds a description, a default and extensions to a property
// schema. In v3 a $ref cannot have siblings, so it moves into allOf.
func (b *defBuilder) decorate(s spec.Schema, doc string, def interface{}, ext spec.Extensions) spec.Schema {
	if s.Ref.String() != "" && b.v3 && (doc != "" || def != nil || len(ext) > 0) {
		s = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{s}}}
	}
	s.Description = doc
	s.Default = def
	for k, v := range ext {
		s.AddExtension(k, v)
	}
	return s
}

// zeroDefault is the default Kubernetes' generator gives a property that
// the structured-merge-diff schema does not describe: {} for a struct held
// by value, the zero value for a required scalar held by value.
func (b *defBuilder) zeroDefault(t reflect.Type, pointer, omitEmpty bool) interface{} {
	if pointer {
		return nil
	}
	if t.Kind() == reflect.Struct && b.isObjectDef(t) {
		return map[string]interface{}{}
	}
	if omitEmpty || isSpecial(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return 0
	}
	return nil
}

func isSpecial(t reflect.Type) bool {
	_, ok := asInterface[openAPITyper](t)
	return ok
}

// isObjectDef reports a struct whose definition is an object with
// properties (not Time, Quantity, RawExtension, ...).
func (b *defBuilder) isObjectDef(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !isSpecial(t) && !customJSON(t)
}

// valueSchema is the schema of a value of type t: a $ref for structs and
// the special apimachinery types, inline for everything else.
func (b *defBuilder) valueSchema(t reflect.Type) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" && t.PkgPath() != "" && (t.Kind() == reflect.Struct || isSpecial(t)) {
		return b.ref(b.define(t))
	}
	switch t.Kind() {
	case reflect.String:
		s := *spec.StringProperty()
		if vs, ok := enumOf(t); ok {
			s.Enum = enumList(vs)
		}
		return s
	case reflect.Bool:
		return *spec.BoolProperty()
	case reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint16, reflect.Uint8:
		return *spec.Int32Property()
	case reflect.Int64, reflect.Int, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return *spec.Int64Property()
	case reflect.Float64:
		return *spec.Float64Property()
	case reflect.Float32:
		return *spec.Float32Property()
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return *spec.StrFmtProperty("byte")
		}
		item := b.valueSchema(t.Elem())
		if b.v3 && t.Elem().Kind() == reflect.Struct && b.isObjectDef(t.Elem()) {
			item = b.decorate(item, "", map[string]interface{}{}, nil)
		}
		return *spec.ArrayProperty(&item)
	case reflect.Map:
		val := b.valueSchema(t.Elem())
		return *spec.MapProperty(&val)
	case reflect.Interface:
		return spec.Schema{}
	case reflect.Struct:
		// An anonymous struct: describe it inline.
		s := spec.Schema{}
		s.Type = spec.StringOrArray{"object"}
		for _, f := range structFields(t) {
			if s.Properties == nil {
				s.Properties = map[string]spec.Schema{}
			}
			s.Properties[f.name] = b.fieldSchema("", f)
		}
		return s
	}
	return spec.Schema{}
}

// typeDescription is the documentation of a type: its generated
// SwaggerDoc, or for the few special types without one a short text.
func typeDescription(t reflect.Type) string {
	if d, ok := asInterface[swaggerDocer](t); ok {
		if doc := d.SwaggerDoc()[""]; doc != "" {
			return doc
		}
	}
	return specialDoc(defName(t))
}

// specialDoc documents the types whose docs are not generated as SwaggerDoc
// methods.
func specialDoc(name string) string {
	switch name {
	case "io.k8s.apimachinery.pkg.apis.meta.v1.Time":
		return "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. It is serialized as an RFC 3339 date and time in UTC, e.g. \"2006-01-02T15:04:05Z\"."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":
		return "MicroTime is a version of Time with microsecond level precision, serialized as an RFC 3339 date and time with microseconds, e.g. \"2006-01-02T15:04:05.000000Z\"."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.Duration":
		return "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. It is serialized as a Go duration string, e.g. \"1h30m\"."
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return "Quantity is a fixed-point representation of a number. It is serialized as a string holding a signed decimal number with an optional suffix: a binary SI suffix (Ki, Mi, Gi, Ti, Pi, Ei), a decimal SI suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent (e.g. 1e3). Examples: \"100m\" (0.1), \"128Mi\", \"1.5\", \"2\"."
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return "IntOrString is a type that can hold an int32 or a string. In JSON and YAML it is written as the inner value, so a field of this type accepts either a number or a name."
	case "io.k8s.apimachinery.pkg.runtime.RawExtension":
		return "RawExtension holds an embedded object of arbitrary kind, serialized as the JSON object itself (with its own kind and apiVersion)."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent":
		return "Event represents a single event to a watched resource."
	case "io.k8s.apimachinery.pkg.version.Info":
		return "Info contains versioning information: the version of the server binary and how it was built."
	}
	return ""
}
