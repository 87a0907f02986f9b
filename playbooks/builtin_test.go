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
		src, ok := Builtin(name)
		if !ok {
			t.Fatalf("Builtin(%q) missing", name)
		}
		// Checked against the fake kinds; the real registry is tested where it lives.
		if _, err := Load("builtin/"+name+".yaml", src, testRegistry{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "nope", "demo.yaml", "../builtin/demo", "builtin/demo"} {
		if _, ok := Builtin(bad); ok {
			t.Errorf("Builtin(%q) found", bad)
		}
	}
}
