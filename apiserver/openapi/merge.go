package openapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	smdschema "sigs.k8s.io/structured-merge-diff/v4/schema"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

// mergeInfo answers, from the structured-merge-diff schema client-go
// carries for the built-in types, what Go struct tags cannot: the list
// types and keys (x-kubernetes-list-type, x-kubernetes-list-map-keys), the
// map types (x-kubernetes-map-type) and the defaults of properties. Its
// type names are the definition names (io.k8s.api.apps.v1.Deployment).
type mergeInfo struct {
	maps map[string]*smdschema.Map
}

// fieldInfo is what the structured-merge-diff schema says of a property.
type fieldInfo struct {
	known    bool // the owning type is in the schema
	def      interface{}
	listType string // atomic, set or map
	listKeys []string
	mapType  string // atomic or granular
}

// builtinMergeInfo reads the schema client-go generated for the built-in
// API types.
func builtinMergeInfo(scheme *runtime.Scheme) (*mergeInfo, error) {
	parser, ok := applyconfigurations.NewTypeConverter(scheme).TypeResolver.(*typed.Parser)
	if !ok {
		return nil, fmt.Errorf("client-go type resolver is not a structured-merge-diff parser")
	}
	return newMergeInfo(&parser.Schema), nil
}

func newMergeInfo(s *smdschema.Schema) *mergeInfo {
	m := &mergeInfo{maps: map[string]*smdschema.Map{}}
	if s == nil {
		return m
	}
	for i := range s.Types {
		if td := &s.Types[i]; td.Map != nil {
			m.maps[td.Name] = td.Map
		}
	}
	return m
}

// structMapType is the x-kubernetes-map-type of a whole struct type.
func (m *mergeInfo) structMapType(name string) string {
	if m == nil {
		return ""
	}
	if sm, ok := m.maps[name]; ok {
		return mapType(sm.ElementRelationship)
	}
	return ""
}

// field describes property name of the struct type owner.
func (m *mergeInfo) field(owner, name string) fieldInfo {
	if m == nil {
		return fieldInfo{}
	}
	sm, ok := m.maps[owner]
	if !ok {
		return fieldInfo{}
	}
	info := fieldInfo{known: true}
	sf, ok := sm.FindField(name)
	if !ok {
		return info
	}
	info.def = normalize(sf.Default)
	tr := sf.Type
	switch {
	case tr.Inlined.List != nil:
		l := tr.Inlined.List
		switch {
		case l.ElementRelationship == smdschema.Associative && len(l.Keys) > 0:
			info.listType = "map"
			info.listKeys = l.Keys
		case l.ElementRelationship == smdschema.Associative:
			info.listType = "set"
		default:
			info.listType = "atomic"
		}
	case tr.Inlined.Map != nil:
		info.mapType = mapType(tr.Inlined.Map.ElementRelationship)
	case tr.NamedType != nil && tr.ElementRelationship != nil:
		info.mapType = mapType(*tr.ElementRelationship)
	}
	return info
}

func mapType(r smdschema.ElementRelationship) string {
	switch r {
	case smdschema.Atomic:
		return "atomic"
	case smdschema.Separable:
		return "granular"
	}
	return ""
}

// normalize turns YAML-decoded values into JSON-shaped ones.
func normalize(v interface{}) interface{} {
	switch v := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case map[string]interface{}:
		out := make(map[string]interface{}, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}
