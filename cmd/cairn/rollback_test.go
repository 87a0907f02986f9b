package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const noReturnBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: pnr}
params:
  dir: {type: string, required: true}
steps:
  - id: install-new
    exec:
      argv: [sh, -c, 'echo install >>"$1/effects"', sh, "${params.dir}"]
    undo:
      exec:
        argv: [sh, -c, 'echo uninstall >>"$1/effects"', sh, "${params.dir}"]
  - id: ready-to-remove-old
    gate: {message: "remove the old control plane?"}
  - id: remove-old
    description: Remove the old control plane
    exec:
      argv: [sh, -c, 'echo remove-old >>"$1/effects"', sh, "${params.dir}"]
    irreversible: the old revision is gone, so workloads cannot move back to it
`

func TestRollbackPlanAndRefusalPastPointOfNoReturn(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	book := writeFile(t, "pnr.yaml", noReturnBook)
	if r := cairn(t, j, "run", book, "-p", "dir="+dir); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	show := cairn(t, j, "playbooks", "show", book)
	if !strings.Contains(show.stdout, "IRREVERSIBLE: the old revision is gone") {
		t.Errorf("playbooks show does not mark the point of no return:\n%s", show.stdout)
	}
	plan := cairn(t, j, "rollback", id, "--plan")
	if plan.code != ExitOK || !strings.Contains(plan.stdout, "install-new") || strings.Contains(plan.stdout, "remove-old") {
		t.Fatalf("rollback --plan before the point of no return: %d\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	if r := cairn(t, j, "approve", id, "ready-to-remove-old"); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	if r := cairn(t, j, "resume", id); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	for _, args := range [][]string{{"rollback", id, "--plan"}, {"rollback", id}, {"rollback", id, "--force"}} {
		r := cairn(t, j, args...)
		if r.code != ExitRefused || !strings.Contains(r.stderr, "point of no return") || !strings.Contains(r.stderr, "remove-old (Remove the old control plane)") ||
			!strings.Contains(r.stderr, "cairn show "+id) {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	effects, _ := os.ReadFile(filepath.Join(dir, "effects"))
	if string(effects) != "install\nremove-old\n" {
		t.Errorf("effects:\n%s", effects)
	}
}

// resume --plan refuses what resume would refuse (D20): a plan never shows
// the edited text as if resume would run it. With --force it plans it and
// says what the override covers.
func TestResumePlanRefusesAChangedPlaybook(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "p.yaml")
	text := "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: p}\nsteps:\n  - id: g\n    gate: {message: go}\n  - id: s\n    exec: {argv: [/bin/sh, -c, 'echo old']}\n"
	os.WriteFile(play, []byte(text), 0o600)
	if r := cairn(t, j, "run", play); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	os.WriteFile(play, []byte(strings.Replace(text, "echo old", "echo new", 1)), 0o600)
	plan, resume := cairn(t, j, "resume", "--plan"), cairn(t, j, "resume")
	if plan.code != ExitRefused || plan.code != resume.code || !strings.Contains(plan.stderr, "the playbook text changed") {
		t.Fatalf("resume --plan: exit %d (resume: %d)\n%s%s", plan.code, resume.code, plan.stdout, plan.stderr)
	}
	forced := cairn(t, j, "resume", "--plan", "--force")
	if forced.code != ExitOK || !strings.Contains(forced.stdout, "--force overrides: the playbook text changed") {
		t.Fatalf("resume --plan --force: exit %d\n%s%s", forced.code, forced.stdout, forced.stderr)
	}
}

// A forced override is the run's state from then on (D7): a later plain
// resume keeps the forced parameters and, with the file gone, the forced
// playbook text; show displays them.
func TestForcedOverrideIsKept(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "p.yaml")
	out := filepath.Join(dir, "out")
	text := fmt.Sprintf(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: p}
params:
  mode: {type: string, default: bad}
steps:
  - id: g1
    gate: {message: one}
  - id: g2
    gate: {message: two}
  - id: s
    exec: {argv: [/bin/sh, -c, 'echo "v1 $0" >> %s', "${params.mode}"]}
`, out)
	os.WriteFile(play, []byte(text), 0o600)
	if r := cairn(t, j, "run", play); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	id := strings.Fields(cairn(t, j, "runs", "-q").stdout)[0]
	cairn(t, j, "approve", id, "g1")
	os.WriteFile(play, []byte(strings.Replace(text, `"v1 $0"`, `"v2 $0"`, 1)), 0o600)
	if r := cairn(t, j, "resume", id, "--force", "-p", "mode=ok"); r.code != ExitOK {
		t.Fatalf("forced resume: exit %d\n%s", r.code, r.stderr)
	}
	if r := cairn(t, j, "show", id); !strings.Contains(r.stdout, "mode=ok") {
		t.Errorf("show after the forced resume:\n%s", r.stdout)
	}
	cairn(t, j, "approve", id, "g2")
	os.Remove(play)
	if r := cairn(t, j, "resume", id); r.code != ExitOK {
		t.Fatalf("plain resume after the override: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "v2 ok\n" {
		t.Errorf("the step ran as %q, want the forced text and parameter (\"v2 ok\")", b)
	}
}
