package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

// Error texts say a thing once: none ends by repeating its sentinel's text
// after a sentence that already said it.
func TestErrorTextsDoNotRepeatTheirSentinel(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	sentinels := []error{journal.ErrRunNotFound, journal.ErrNoJournal, workflow.ErrNotResumable, workflow.ErrNoApproval, workflow.ErrRefused}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "04407f"}, ExitJournal, "journal " + j + " has no run 04407f"},
		{[]string{"resume", "04407f"}, ExitJournal, "has no run 04407f"},
		{[]string{"journal", "export", "04407f"}, ExitJournal, "has no run 04407f"},
		{[]string{"journal", "verify", "04407f"}, ExitJournal, "has no run 04407f"},
		{[]string{"approve", id, "nosuch"}, ExitUsage, "run " + id + " (playbook demo) has no step nosuch; its gates: canary-ok"},
		{[]string{"approve", id, "install"}, ExitUsage, "step install of run " + id + " is not a gate (its kind is exec)"},
		{[]string{"--journal", filepath.Join(dir, "other.db"), "resume"}, ExitRefused, "no unfinished run"},
	} {
		r := cairn(t, j, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d and %q in %q", tc.args, r.code, tc.code, tc.want, r.stderr)
		}
		first, _, _ := strings.Cut(r.stderr, "\n")
		for _, s := range sentinels {
			if strings.HasSuffix(first, ": "+s.Error()) {
				t.Errorf("%q: %q repeats %q", tc.args, first, s)
			}
		}
	}
}

// Texts that name a cairn command name one that exists: `cairn verify` is
// `cairn journal verify`. Every `cairn WORD` in backquotes in the sources
// and the docs is checked.
func TestTextsNameCommandsThatExist(t *testing.T) {
	app := newApp(nil, nil)
	re := regexp.MustCompile("`cairn ([a-z][a-z-]*)")
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "*/*.go", "*/*/*.go", "*/*/*/*.go"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, pattern))
		files = append(files, m...)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/testdata/") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			checked++
			if m[1] != "help" && findCommand(app.Commands, m[1]) == nil {
				t.Errorf("%s: %q names no cairn command", f, m[0])
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d mentions checked", checked)
	}
}
