package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Before anything has run: `runs` is an empty list, resume has nothing to
// do, and no command that has nothing to act on creates a journal.
func TestNoJournalYet(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	r := cairn(t, j, "runs")
	if r.code != ExitOK || r.stdout != "" || !strings.Contains(r.stderr, "no runs in journal "+j) {
		t.Errorf("runs: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for format, want := range map[string]string{"json": "[]\n", "yaml": "[]\n"} {
		if r := cairn(t, j, "runs", "-o", format); r.code != ExitOK || r.stdout != want {
			t.Errorf("runs -o %s: exit %d, stdout %q, stderr %q", format, r.code, r.stdout, r.stderr)
		}
	}
	if r := cairn(t, j, "runs", "-q"); r.code != ExitOK || r.stdout != "" {
		t.Errorf("runs -q: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, args := range [][]string{
		{"resume"},
		{"resume", "--plan"},
	} {
		if r := cairn(t, j, args...); r.code != ExitRefused || !strings.Contains(r.stderr, "no unfinished run") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"resume", "r1"},
		{"rollback", "r1"},
		{"rollback", "r1", "--plan"},
		{"approve", "r1", "gate"},
		{"show", "r1"},
		{"journal", "verify"},
		{"journal", "export", "r1"},
	} {
		if r := cairn(t, j, args...); r.code != ExitJournal || !strings.Contains(r.stderr, "no journal at "+j) {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("commands with nothing to act on left %v behind", left)
	}
}
