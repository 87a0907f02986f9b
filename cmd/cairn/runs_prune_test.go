package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// prunePlaybooks writes one playbook that succeeds, one that fails and one
// that waits at a gate.
func prunePlaybooks(t *testing.T, dir string) map[string]string {
	t.Helper()
	head := "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: prune-%s}\nsteps:\n  - id: a\n    exec: {argv: [%s]}\n"
	books := map[string]string{
		"ok":   fmt.Sprintf(head, "ok", "/bin/true"),
		"fail": fmt.Sprintf(head, "fail", "/bin/false"),
		"gate": fmt.Sprintf(head, "gate", "/bin/true") + "  - id: wait\n    gate: {message: \"go on?\"}\n",
	}
	out := map[string]string{}
	for name, text := range books {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = path
	}
	return out
}

// runs prune removes only finished runs older than the age: a young one,
// a failed one and one waiting at a gate stay; --dry-run removes nothing.
func TestRunsPruneRemovesOnlyOldFinishedRuns(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	books := prunePlaybooks(t, dir)
	ids := map[string]string{}
	for _, name := range []string{"ok", "fail", "gate"} {
		r := cairn(t, j, "run", books[name])
		if m := pruneRunID.FindStringSubmatch(r.stdout); m != nil {
			ids[name] = m[1]
		} else {
			t.Fatalf("run %s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	time.Sleep(20 * time.Millisecond) // the runs' last events are in the past

	r := cairn(t, j, "runs", "prune", "--older-than", "90d")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no finished run older than 2160h0m0s") {
		t.Fatalf("90d: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cairn(t, j, "runs", "prune", "--older-than", "10ms", "--dry-run")
	if r.code != 0 || r.stdout != "would remove "+ids["ok"]+" (prune-ok succeeded, finished "+r.stdout[strings.Index(r.stdout, "finished ")+9:] {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := strings.Fields(cairn(t, j, "runs", "-q").stdout); len(got) != 3 {
		t.Fatalf("a dry run removed runs: %v", got)
	}
	r = cairn(t, j, "runs", "prune", "--older-than", "10ms")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "removed "+ids["ok"]+" (prune-ok succeeded, finished ") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got := strings.Fields(cairn(t, j, "runs", "-q").stdout)
	if len(got) != 2 || strings.Contains(strings.Join(got, " "), ids["ok"]) {
		t.Fatalf("left %v, want the failed and the waiting run", got)
	}
	if r := cairn(t, j, "journal", "verify"); r.code != 0 {
		t.Fatalf("verify after prune: %d %s", r.code, r.stdout)
	}
	if r := cairn(t, j, "show", ids["ok"]); r.code != ExitJournal {
		t.Fatalf("show of a pruned run: exit %d", r.code)
	}
}

var pruneRunID = regexp.MustCompile(`(?m)^run (\S+) `)

func TestRunsPruneAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1.5d": 36 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "0s", "90x", "ninety days", "1e9d"} {
		if _, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q): no error", in)
		}
	}
	r := cairn(t, filepath.Join(t.TempDir(), "j.db"), "runs", "prune", "--older-than", "3 months")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `--older-than "3 months": give days (90d)`) {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, filepath.Join(t.TempDir(), "j.db"), "runs", "prune"); r.code != ExitUsage {
		t.Fatalf("no --older-than: exit %d %s", r.code, r.stderr)
	}
}
