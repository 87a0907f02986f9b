package playbooks

import (
	"slices"
	"testing"
)

func TestBuiltin(t *testing.T) {
	names := BuiltinNames()
	if !slices.Contains(names, "demo") || !slices.IsSorted(names) {
		t.Fatalf("BuiltinNames = %q", names)
	}
	for _, name := range names {
		// Each one is loaded with the real kinds in cmd/cairn's tests; the
		// fake kinds here do not include the Kubernetes ones.
		if src, ok := Builtin(name); !ok || len(src) == 0 {
			t.Fatalf("Builtin(%q) missing", name)
		}
	}
	for _, bad := range []string{"", "nope", "demo.yaml", "../builtin/demo", "builtin/demo"} {
		if _, ok := Builtin(bad); ok {
			t.Errorf("Builtin(%q) found", bad)
		}
	}
}
