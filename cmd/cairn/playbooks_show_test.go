package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow/action"
)

// --raw prints the text cairn runs, byte for byte, so a copy validates and
// runs the same.
func TestPlaybooksShowRaw(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	for _, name := range playbooks.BuiltinNames() {
		r := cairn(t, j, "playbooks", "show", name, "--raw")
		src, _ := playbooks.Builtin(name)
		if r.code != ExitOK || r.stdout != string(src) {
			t.Errorf("%s --raw: exit %d, output differs from the built-in (%d bytes, want %d)", name, r.code, len(r.stdout), len(src))
			continue
		}
		copyFile := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(copyFile, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := cairn(t, j, "validate", copyFile); r.code != ExitOK {
			t.Errorf("validate the --raw copy of %s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	if r := cairn(t, j, "playbooks", "show", "demo", "--raw", "--params-template"); r.code != ExitUsage {
		t.Errorf("--raw with --params-template: exit %d, want %d", r.code, ExitUsage)
	}
}

// Each built-in's params template is a params file that plan refuses for
// exactly its required parameters until they are filled in, and whose
// commented-out defaults load, once uncommented, as the defaults.
func TestPlaybooksShowParamsTemplate(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	cfg := &action.Config{}
	for _, name := range playbooks.BuiltinNames() {
		r := cairn(t, j, "playbooks", "show", name, "--params-template")
		if r.code != ExitOK {
			t.Fatalf("%s --params-template: exit %d %s", name, r.code, r.stderr)
		}
		pb, _, err := cfg.LoadPlaybook(name)
		if err != nil {
			t.Fatal(err)
		}
		var file map[string]any
		if err := yaml.Unmarshal([]byte(r.stdout), &file); err != nil {
			t.Fatalf("%s: the template is not YAML: %v\n%s", name, err, r.stdout)
		}
		var required, keys []string
		for _, p := range pb.Params {
			if p.Required && p.Default == nil && !p.Secret {
				required = append(required, p.Name)
			}
		}
		for k := range file {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Sort(required)
		if !slices.Equal(keys, required) {
			t.Errorf("%s: the template sets %v, want the required parameters %v\n%s", name, keys, required, r.stdout)
		}
		tmpl := filepath.Join(dir, name+"-params.yaml")
		if err := os.WriteFile(tmpl, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		plan := cairn(t, j, "plan", name, "--params-file", tmpl)
		if len(required) > 0 && plan.code != ExitUsage {
			t.Errorf("%s: plan with the unfilled template: exit %d, want %d", name, plan.code, ExitUsage)
		}
		for _, n := range required {
			if !regexp.MustCompile(regexp.QuoteMeta(tmpl) + `:\d+:\d+: ` + n + `: no value`).MatchString(plan.stderr) {
				t.Errorf("%s: plan with the unfilled template does not refuse %s for having no value:\n%s", name, n, plan.stderr)
			}
		}
		if strings.Contains(plan.stderr, "unknown parameter") {
			t.Errorf("%s: the template names a parameter the playbook does not declare:\n%s", name, plan.stderr)
		}

		uncommented := regexp.MustCompile(`(?m)^# ([A-Za-z][A-Za-z0-9_]*): (.+)$`).ReplaceAllString(r.stdout, "$1: $2")
		file = nil
		if err := yaml.Unmarshal([]byte(uncommented), &file); err != nil {
			t.Fatalf("%s: the template with its defaults uncommented is not YAML: %v\n%s", name, err, uncommented)
		}
		for _, p := range pb.Params {
			if p.Default == nil || p.Secret {
				continue
			}
			one, err := playbooks.Resolve(&playbooks.Playbook{Params: []*playbooks.Param{p}}, nil, map[string]any{p.Name: file[p.Name]})
			if err != nil {
				t.Errorf("%s: default of %s as the template writes it (%v): %v", name, p.Name, file[p.Name], err)
				continue
			}
			if got, want := yamlText(t, one[p.Name]), yamlText(t, p.Default); got != want {
				t.Errorf("%s: default of %s as the template writes it loads as %s, want %s", name, p.Name, got, want)
			}
		}
	}
}

func yamlText(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// playbooks and playbooks kinds print JSON and YAML like the other lists.
func TestPlaybooksListsAsData(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, args := range [][]string{{"playbooks"}, {"playbooks", "kinds"}} {
		for _, format := range []string{"json", "yaml"} {
			r := cairn(t, j, append(args, "-o", format)...)
			var rows []map[string]any
			if err := yaml.Unmarshal([]byte(r.stdout), &rows); r.code != ExitOK || err != nil || len(rows) < 5 {
				t.Errorf("%v -o %s: exit %d, %d rows, %v\n%s", args, format, r.code, len(rows), err, r.stdout)
				continue
			}
			for _, row := range rows {
				if row["name"] == "" || row["summary"] == "" {
					t.Errorf("%v -o %s: a row without name or summary: %v", args, format, row)
				}
			}
		}
		if r := cairn(t, j, append(args, "-o", "xml")...); r.code != ExitUsage {
			t.Errorf("%v -o xml: exit %d, want %d", args, r.code, ExitUsage)
		}
	}
	r := cairn(t, j, "playbooks", "-o", "json")
	if !strings.Contains(r.stdout, `"name": "demo"`) || !strings.Contains(r.stdout, `"demo": true`) {
		t.Errorf("playbooks -o json does not mark demo:\n%s", r.stdout)
	}
}
