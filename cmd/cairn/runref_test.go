package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run is named by its id, a unique prefix of it, or @latest; show with
// no argument shows the newest run; an ambiguous prefix is refused (exit 2)
// with the runs it could mean, a prefix of none is a missing run (exit 3).
func TestRunReferences(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	for i := 0; i < 2; i++ {
		if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
			t.Fatalf("run %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
	}
	ids := strings.Fields(cairn(t, j, "runs", "-q").stdout)
	if len(ids) != 2 {
		t.Fatalf("runs -q: %q", ids)
	}
	newest, older := ids[0], ids[1]
	short := older[:len(older)-2]
	if strings.HasPrefix(newest, short) {
		t.Fatalf("the runs' ids %s and %s share %s; the test needs a prefix of one only", newest, older, short)
	}

	for _, args := range [][]string{{"show"}, {"show", "@latest"}, {"show", newest}} {
		r := cairn(t, j, args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, newest) || strings.Contains(r.stdout, older) {
			t.Errorf("%v: exit %d, want run %s only\n%s%s", args, r.code, newest, r.stdout, r.stderr)
		}
	}
	if r := cairn(t, j, "show", short); r.code != ExitOK || !strings.Contains(r.stdout, older) {
		t.Errorf("show %s: exit %d, want run %s\n%s%s", short, r.code, older, r.stdout, r.stderr)
	}
	if r := cairn(t, j, "journal", "export", short); r.code != ExitOK || !strings.Contains(r.stdout, `"`+older+`"`) {
		t.Errorf("journal export %s: exit %d\n%s", short, r.code, r.stderr)
	}
	if r := cairn(t, j, "journal", "verify", short); r.code != ExitOK || !strings.Contains(r.stdout, older) {
		t.Errorf("journal verify %s: exit %d\n%s%s", short, r.code, r.stdout, r.stderr)
	}
	for _, ref := range []string{short, "@latest"} {
		want := map[string]string{short: older, "@latest": newest}[ref]
		out := filepath.Join(dir, "report.html")
		if r := cairn(t, j, "report", ref, "-o", out); r.code != ExitOK {
			t.Errorf("report %s: exit %d\n%s", ref, r.code, r.stderr)
		} else if html, _ := os.ReadFile(out); !strings.Contains(string(html), want) {
			t.Errorf("report %s is not run %s's", ref, want)
		}
	}
	if r := cairn(t, j, "approve", short, "canary-ok"); r.code != ExitOK {
		t.Fatalf("approve %s: exit %d %s", short, r.code, r.stderr)
	}
	if r := cairn(t, j, "resume", short); r.code != ExitOK || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("resume %s: exit %d\n%s%s", short, r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, j, "show", older); !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("the older run did not go on:\n%s", r.stdout)
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--status", "succeeded"}, []string{older}},
		{[]string{"--status", "waiting-approval"}, []string{newest}},
		{[]string{"--status", "succeeded,waiting-approval"}, []string{newest, older}},
		{[]string{"--status", "failed", "--status", "succeeded"}, []string{older}},
		{[]string{"--playbook", "demo", "--limit", "1"}, []string{newest}},
		{[]string{"--playbook", "demo", "--status", "succeeded"}, []string{older}},
		{[]string{"--playbook", "istio-canary-tags"}, nil},
	} {
		r := cairn(t, j, append([]string{"runs", "-q"}, c.args...)...)
		if got := strings.Fields(r.stdout); r.code != ExitOK || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("runs %v: exit %d, %q, want %q %s", c.args, r.code, got, c.want, r.stderr)
		}
	}
	if r := cairn(t, j, "runs", "--status", "done"); r.code != ExitUsage || !strings.Contains(r.stderr, "waiting-approval") {
		t.Errorf("runs --status done: exit %d, want %d naming the statuses: %s", r.code, ExitUsage, r.stderr)
	}

	common := "20"
	r := cairn(t, j, "show", common)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "ambiguous") || !strings.Contains(r.stderr, newest) || !strings.Contains(r.stderr, older) {
		t.Errorf("show %s: exit %d, want %d naming both runs: %s", common, r.code, ExitUsage, r.stderr)
	}
	if r := cairn(t, j, "approve", common, "canary-ok"); r.code != ExitUsage {
		t.Errorf("approve %s: exit %d, want %d: %s", common, r.code, ExitUsage, r.stderr)
	}
	r = cairn(t, j, "show", "1999")
	if r.code != ExitJournal || !strings.Contains(r.stderr, "has no run 1999") || !strings.Contains(r.stderr, "cairn") || !strings.Contains(r.stderr, "runs") {
		t.Errorf("show 1999: exit %d, want %d, no such run and a hint: %s", r.code, ExitJournal, r.stderr)
	}
	empty := filepath.Join(t.TempDir(), "new.db")
	if r := cairn(t, empty, "runs"); r.code != ExitOK {
		t.Fatalf("runs on a new journal: %d %s", r.code, r.stderr)
	}
	if r := cairn(t, empty, "show"); r.code != ExitJournal {
		t.Errorf("show on a journal with no runs: exit %d, want %d: %s", r.code, ExitJournal, r.stderr)
	}
}
