package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// The string types of k8s.io/api marked +enum, with their constants, are
// read from the library's sources into enums_generated.go. Regenerate it
// after changing the k8s.io/api version (TestEnumsGeneratedUpToDate fails
// until then):
//
//go:generate go run ./internal/genenums -o enums_generated.go

// enumValue is one constant of an enum type: its value, and its doc
// comment as Kubernetes' OpenAPI generator prints it (without the leading
// constant name, white space collapsed).
type enumValue struct{ value, doc string }

// enumOf returns the constants of t, in source order, if t is an enum type
// (a string type of k8s.io/api marked +enum).
func enumOf(t reflect.Type) ([]enumValue, bool) {
	if t.Kind() != reflect.String || t.Name() == "" || t.PkgPath() == "" {
		return nil, false
	}
	vs, ok := enumTypes[t.PkgPath()+"."+t.Name()]
	return vs, ok && len(vs) > 0
}

// enumList is the "enum" of a schema of an enum type. openapi-gen sorts the
// values by their Go-quoted form.
func enumList(vs []enumValue) []interface{} {
	sorted := append([]enumValue(nil), vs...)
	sort.Slice(sorted, func(i, j int) bool {
		return strconv.Quote(sorted[i].value) < strconv.Quote(sorted[j].value)
	})
	out := make([]interface{}, 0, len(sorted))
	for _, v := range sorted {
		out = append(out, v.value)
	}
	return out
}

// enumDescription appends to the description doc of a property of an enum
// type the paragraph openapi-gen adds, one sorted line per value:
//
//	<doc>
//
//	Possible enum values:
//	 - `"Recreate"` Kill all existing pods before creating new ones.
//	 - `"RollingUpdate"` Replace the old ReplicaSets by new one using ...
func enumDescription(doc string, vs []enumValue) string {
	lines := make([]string, 0, len(vs))
	for _, v := range vs {
		lines = append(lines, fmt.Sprintf(" - `%q` %s", v.value, v.doc))
	}
	sort.Strings(lines)
	for i, line := range lines {
		// openapi-gen trims the lines when it joins them: a value without
		// a doc ends with its quoted value.
		lines[i] = strings.TrimRight(line, " ")
	}
	suffix := "Possible enum values:\n" + strings.Join(lines, "\n")
	if doc = strings.TrimSpace(doc); doc == "" {
		return suffix
	}
	return doc + "\n\n" + suffix
}
