package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `cairn help` and `cairn help CMD` show help; a mistyped command is a usage
// error (exit 2) naming the command it was probably meant to be.
func TestHelpAndMistypedCommands(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "cairn - run Kubernetes"},
		{[]string{"help", "run"}, "cairn run - start a run"},
		{[]string{"help", "journal", "verify"}, "cairn journal verify - check the hash chain"},
		{[]string{"journal"}, "cairn journal - verify or export"},
	} {
		r := cairn(t, j, tc.args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("%q: exit %d, want 0 and %q in\n%s%s", tc.args, r.code, tc.want, r.stdout, r.stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rnu", "demo"}, `unknown command "rnu" for cairn; did you mean "run"?`},
		{[]string{"help", "rnu"}, `unknown command "rnu" for cairn; did you mean "run"?`},
		{[]string{"plna"}, `did you mean "plan"?`},
		{[]string{"journal", "verfy"}, `unknown command "verfy" for cairn journal; did you mean "verify"?`},
	} {
		r := cairn(t, j, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d and %q in %q", tc.args, r.code, ExitUsage, tc.want, r.stderr)
		}
	}
}

// A flag that needs a value but ends the line is named; the playbook before
// it must not be taken for its value.
func TestFlagWithoutValue(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, args := range [][]string{
		{"plan", "demo", "-p"},
		{"run", "demo", "--params-file"},
		{"--log-level"},
		{"runs", "--journal"},
	} {
		r := cairn(t, j, args...)
		flag := args[len(args)-1]
		if r.code != ExitUsage || !strings.Contains(r.stderr, "flag "+flag+" needs a value") || strings.Contains(r.stderr, "argument, got") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// --kubeconfig and --context work before the command too; an unknown flag
// is echoed as typed, with the flag it probably meant.
func TestClusterFlagsBeforeCommandAndTypos(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	missing := filepath.Join(dir, "no-kubeconfig")
	// The flags reach run: it tries that kubeconfig (exit 5), not exit 2.
	r := cairn(t, j, "--kubeconfig", missing, "--context", "x", "run", "demo", "-p", "workdir="+dir)
	if r.code != ExitCluster || !strings.Contains(r.stderr, missing) {
		t.Errorf("cluster flags before run: exit %d, stderr %q", r.code, r.stderr)
	}
	got, err := interspersed(newApp(nil, nil), []string{"cairn", "--context=x", "--log-level", "debug", "--kubeconfig", "k", "plan", "demo", "-p", "a=b"})
	want := []string{"cairn", "--log-level", "debug", "plan", "--context=x", "--kubeconfig", "k", "-p", "a=b", "demo"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "demo", "--kubconfig", "k"}, "unknown flag --kubconfig for cairn run; did you mean --kubeconfig?"},
		{[]string{"run", "demo", "--kubconfig=k"}, "unknown flag --kubconfig for cairn run; did you mean --kubeconfig?"},
		{[]string{"--contxt", "x", "run", "demo"}, "unknown flag --contxt for cairn run; did you mean --context?"},
		{[]string{"--context", "x", "playbooks"}, "unknown flag --context for cairn playbooks"},
		{[]string{"runs", "--limt", "3"}, "did you mean --limit?"},
	} {
		r := cairn(t, j, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, want %q in %q", tc.args, r.code, tc.want, r.stderr)
		}
	}
}
