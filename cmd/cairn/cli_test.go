package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

func cairn(t *testing.T, journal string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"cairn", "--log-format", "json", "--journal", journal}, args...)
	code := Main(context.Background(), full, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func TestValidateListsEveryErrorWithPosition(t *testing.T) {
	r := cairn(t, filepath.Join(t.TempDir(), "j.db"), "validate", filepath.Join(repoRoot, "testdata/cli/broken.yaml"))
	if r.code != ExitUsage {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, ExitUsage, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`broken.yaml:5:3: .*owner`,
		`broken.yaml:8:27: .*expected an integer`,
		`broken.yaml:12:.*params.missing`,
		`broken.yaml:13:7: .*shell`,
		`broken.yaml:14:.*first`,
		`broken.yaml:15:.*steps.later`,
		`broken.yaml:16:.*soon`,
		`broken.yaml:17:.*Bad_ID`,
		`broken.yaml:19:.*undo`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// Built-ins load with the full registry, Kubernetes kinds included, exactly
// as `cairn run NAME` loads them.
func TestValidateAcceptsBuiltinsAndExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "testdata/crash/*.yaml"))
	names := playbooks.BuiltinNames()
	r := cairn(t, filepath.Join(t.TempDir(), "j.db"), append(append([]string{"validate"}, names...), files...)...)
	if r.code != ExitOK || strings.Count(r.stdout, ": ok") != len(names)+len(files) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, args := range [][]string{
		{"run"},
		{"run", "demo", "-p", "noequals"},
		{"run", "demo"}, // workdir is required
		{"run", "no-such-playbook"},
		{"runs", "-o", "xml"},
		{"show", "a", "b"},
		{"--log-level", "loud", "runs"},
		{"run", "demo", "--no-such-flag"},
	} {
		r := cairn(t, j, args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "cairn: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	got, err := interspersed(app, []string{"cairn", "run", "demo", "-p", "a=b", "--log-level", "debug", "--kubeconfig=k", "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cairn", "--log-level", "debug", "run", "-p", "a=b", "--kubeconfig=k", "demo", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestGateApproveResumeShow walks the operator's path through the CLI.
func TestGateApproveResumeShow(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s")
	if r.code != ExitOK || !strings.Contains(r.stdout, "waiting for approval") || !strings.Contains(r.stdout, "cairn approve ") {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	if r := cairn(t, j, "approve", id, "move-rest"); r.code != ExitUsage || !strings.Contains(r.stderr, "not a gate") {
		t.Fatalf("approving a step that is not a gate: exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "approve", id, "canary-ok", "--comment", "ok by me"); r.code != ExitOK {
		t.Fatalf("approve: exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "approve", id, "canary-ok"); r.code != ExitRefused || !strings.Contains(r.stderr, "not waiting for approval: its status is approved") {
		t.Fatalf("approving a gate twice: exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "resume"); r.code != ExitOK || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	show := cairn(t, j, "show", id)
	for _, want := range []string{"status    succeeded", "approved by", "ok by me", "move-rest[app-3]", "outputs: current=asm-1130-0"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, show.stdout)
		}
	}
	if r := cairn(t, j, "show", id, "-o", "json"); r.code != ExitOK || !strings.Contains(r.stdout, `"instances"`) {
		t.Errorf("show -o json: %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "resume", id); r.code != ExitRefused {
		t.Errorf("resuming a finished run: exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "rollback", id); r.code != ExitOK {
		t.Fatalf("rollback: exit %d %s", r.code, r.stderr)
	}
	effects, _ := os.ReadFile(filepath.Join(dir, "effects.log"))
	if !strings.HasSuffix(strings.TrimSpace(string(effects)), "move app-canary back to asm-1130-0\nuninstall asm-1140-0") {
		t.Errorf("rollback effects:\n%s", effects)
	}
}

func TestTamperedJournalIsRefused(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	raw, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	// Change what the journal says the canary approval message was about,
	// in every copy of the page (bbolt leaves stale copies in free pages).
	marker := []byte("\x07install") // a compact event's step: length, then the name
	if !bytes.Contains(raw, marker) {
		t.Fatal("marker not found")
	}
	raw = bytes.ReplaceAll(raw, marker, []byte("\x07instaXl"))
	if err := os.WriteFile(j, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cairn(t, j, "journal", "verify"); r.code != ExitJournal || !strings.Contains(r.stdout, "FAILED") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, j, "resume"); r.code != ExitJournal || !strings.Contains(r.stderr, "cannot be trusted") {
		t.Fatalf("resume of a tampered run: exit %d %s", r.code, r.stderr)
	}
	// Listed and shown as damaged, not by the status its events claim
	// (issue 14 D10); approve writes nothing onto it.
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	if r := cairn(t, j, "runs"); r.code != ExitOK || !regexp.MustCompile(`(?m)^`+id+` +demo +damaged`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "run "+id+" is damaged: ") {
		t.Errorf("runs of a tampered run: exit %d\n%s", r.code, r.stdout)
	}
	if r := cairn(t, j, "runs", "--status", "waiting-approval", "-q"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("a tampered run is listed by the status its events claim: %q", r.stdout)
	}
	if r := cairn(t, j, "show", id); !strings.Contains(r.stdout, "journal   FAILED") {
		t.Errorf("show of a tampered run is not marked:\n%s", r.stdout)
	}
	before, _ := os.ReadFile(j)
	if r := cairn(t, j, "approve", id, "canary-ok"); r.code != ExitJournal || !strings.Contains(r.stderr, "cannot be trusted") {
		t.Errorf("approve of a tampered run: exit %d %s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(j); !bytes.Equal(before, after) {
		t.Errorf("approve of a tampered run changed the journal")
	}
}

func TestLockedJournalRefusesWritersNotReaders(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	// A real second process holds the journal while it sleeps in a step.
	play := filepath.Join(dir, "sleep.yaml")
	os.WriteFile(play, []byte("apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: sleepy}\nsteps:\n  - id: nap\n    exec: {argv: [sleep, '30']}\n"), 0o600)
	holder := exec.Command(cairnBin, "--journal", j, "run", play)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(j + ".owner"); err == nil {
			break
		}
		exec.Command("sleep", "0.05").Run()
	}
	// Another writer is refused at once, naming the holder...
	r := cairn(t, j, "run", play)
	if r.code != ExitJournal || !strings.Contains(r.stderr, fmt.Sprintf("in use by pid %d", holder.Process.Pid)) {
		t.Fatalf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
	// ...while reading the running run's record works.
	r = cairn(t, j, "runs")
	if r.code != ExitOK || !strings.Contains(r.stdout, "sleepy") || !strings.Contains(r.stdout, "running") {
		t.Fatalf("runs while a run holds the journal: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Killed, it is no longer running: nothing holds the journal.
	holder.Process.Kill()
	holder.Wait()
	for _, args := range [][]string{{"runs"}, {"runs", "--status", "interrupted"}, {"runs", "-o", "json"}} {
		if r := cairn(t, j, args...); r.code != ExitOK || !strings.Contains(r.stdout, "sleepy") || !strings.Contains(r.stdout, "interrupted") || strings.Contains(r.stdout, "running") {
			t.Fatalf("%v after the kill: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := cairn(t, j, "runs", "--status", "running", "-q"); r.code != ExitOK || strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("runs --status running after the kill: %q", r.stdout)
	}
	if r := cairn(t, j, "show", "-o", "json"); r.code != ExitOK || !strings.Contains(r.stdout, `"status": "interrupted"`) {
		t.Fatalf("show after the kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
