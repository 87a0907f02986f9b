package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cairn-dev/cairn/playbooks"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite playbooks/schema/cairn-v1.json")

// The checked-in schema is what cairn playbooks schema prints (regenerate
// with go test ./cmd/cairn -run TestSchema -update-schema); every built-in
// and example playbook validates against it, and playbooks the loader
// refuses for their shape are refused by it too.
func TestSchema(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	r := cairn(t, j, "playbooks", "schema")
	if r.code != ExitOK {
		t.Fatalf("playbooks schema: exit %d %s", r.code, r.stderr)
	}
	file := filepath.Join(repoRoot, "playbooks", "schema", "cairn-v1.json")
	if *updateSchema {
		if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if have, err := os.ReadFile(file); err != nil || string(have) != r.stdout {
		t.Fatalf("%s is not what cairn playbooks schema prints (%v); regenerate it with -update-schema", file, err)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil {
		t.Fatal(err)
	}
	check := func(name string, src []byte) []string {
		var doc any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return schemaCheck(schema, schema, doc, name)
	}
	n := 0
	for _, name := range playbooks.BuiltinNames() {
		src, _ := playbooks.Builtin(name)
		for _, e := range check(name, src) {
			t.Errorf("built-in %s", e)
		}
		n++
	}
	// Every other playbook in testdata that the loader accepts, the schema
	// accepts too.
	var files []string
	for _, pattern := range []string{"testdata/*/*.yaml", "testdata/*/*/*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, pattern))
		files = append(files, m...)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(src), "kind: Playbook") {
			continue
		}
		if r := cairn(t, j, "validate", f); r.code != ExitOK {
			continue
		}
		for _, e := range check(filepath.Base(f), src) {
			t.Errorf("%s", e)
		}
		n++
	}
	if n < 12 {
		t.Fatalf("only %d playbooks checked", n)
	}
	demo, _ := playbooks.Builtin("demo")
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown exec field", "argv: [/bin/sh", "argvv: [/bin/sh", "unknown key argvv"},
		{"misspelt step key", "retry: {attempts: 2", "retries: {attempts: 2", "unknown key retries"},
		{"two kinds", "    gate:\n", "    exec: {argv: [x]}\n    gate:\n", "oneOf"},
		{"bad id", "- id: install", "- id: Install", "does not match"},
		{"wrong type", "attempts: 2", "attempts: two", "not of type"},
		{"bad apiVersion", "apiVersion: cairn/v1", "apiVersion: cairn/v2", "is not cairn/v1"},
	} {
		bad := strings.Replace(string(demo), c.from, c.to, 1)
		if bad == string(demo) {
			t.Fatalf("%s: %q not in demo", c.name, c.from)
		}
		errs := check(c.name, []byte(bad))
		if len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), c.want) {
			t.Errorf("%s: schema errors %q, want one with %q", c.name, errs, c.want)
		}
		if r := cairn(t, j, "validate", writeTemp(t, bad)); r.code != ExitUsage {
			t.Errorf("%s: validate exit %d, want %d (the loader refuses it too)", c.name, r.code, ExitUsage)
		}
	}
}

func writeTemp(t *testing.T, src string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pb.yaml")
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
