package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow/action"
)

// `cairn playbooks show NAME` is the built-ins' manual: it must say what
// every parameter and every step is for, and what rollback does.
func TestBuiltinsAreDocumented(t *testing.T) {
	cfg := &action.Config{}
	for _, name := range playbooks.BuiltinNames() {
		pb, origin, err := cfg.LoadPlaybook(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(pb.Description, "Rollback") {
			t.Errorf("%s: the description does not say what rollback does (a paragraph starting \"Rollback\")", name)
		}
		for _, p := range pb.Params {
			if strings.TrimSpace(p.Description) == "" {
				t.Errorf("%s: parameter %s has no description", name, p.Name)
			}
		}
		for _, s := range pb.Steps {
			if strings.TrimSpace(s.Description) == "" {
				t.Errorf("%s: step %s has no description", name, s.ID)
			}
		}
		var out bytes.Buffer
		describePlaybook(&out, pb, origin)
		for _, section := range []string{"PARAMETERS", "STEPS", "ROLLBACK"} {
			if !strings.Contains(out.String(), "\n"+section) {
				t.Errorf("%s: show has no %s section:\n%s", name, section, out.String())
			}
		}
	}
}

func TestSummary(t *testing.T) {
	for in, want := range map[string]string{
		"Canary upgrade of a mesh\nwith asmcli. More text.\n\nSecond paragraph.": "Canary upgrade of a mesh with asmcli.",
		"One line only":             "One line only",
		"":                          "",
		strings.Repeat("word ", 40): strings.Repeat("word ", 40)[:97] + "...",
	} {
		if got := summary(in); got != want {
			t.Errorf("summary(%q) = %q, want %q", in, got, want)
		}
	}
}
