package fieldtest

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Summary renders each error as "<field>: <type>", e.g.
// "spec.ports: Required value", sorted.
func Summary(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Type.String())
	}
	slices.Sort(out)
	return out
}

// Expect fails t unless errs has exactly the wanted "<field>: <type>"
// entries (in any order).
func Expect(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	got := Summary(errs)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("errors = %q, want %q\nfull: %v", got, w, errs)
	}
}

// ExpectDetail fails t unless errs has an error at path whose detail is
// detail.
func ExpectDetail(t *testing.T, errs field.ErrorList, path, detail string) {
	t.Helper()
	for _, e := range errs {
		if e.Field == path && e.Detail == detail {
			return
		}
	}
	t.Errorf("no error at %s with detail %q in %v", path, detail, errs)
}
