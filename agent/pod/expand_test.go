package pod

import "testing"

func TestExpand(t *testing.T) {
	vars := lookupIn(map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": ""}, map[string]string{"A": "shadowed", "S": "svc"})
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x$(A)y$(S)z", "xalphaysvcz"},
		{"$(B)", "$(A)"}, // no recursion
		{"$(EMPTY)|", "|"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"}, // escaped
		{"$$$(A)", "$alpha"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(A", "$(A"}, // unterminated
		{"$()", "$()"},
		{"100$", "100$"},
	}
	for _, tt := range tests {
		if got := expand(tt.in, vars); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
