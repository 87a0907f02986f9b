package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exportTypes lists the types of a run's events, from journal export.
func exportTypes(t *testing.T, j, secret, id string) []string {
	t.Helper()
	r := bin(t, j, secret, "journal", "export", id)
	if r.code != ExitOK {
		t.Fatalf("journal export: exit %d %s", r.code, r.stderr)
	}
	var types []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if i := strings.Index(l, `"type":"`); i >= 0 {
			types = append(types, strings.SplitN(l[i+8:], `"`, 2)[0])
		}
	}
	return types
}

// D1: a secret equal to one of a literal foreach list's items is refused
// (exit 2) before the run is created, naming the step and the parameter
// but not the item; it never becomes an item "<redacted>".
func TestSecretD1ItemIsRefused(t *testing.T) {
	dir := t.TempDir()
	j, out := filepath.Join(dir, "j.db"), filepath.Join(dir, "out")
	for _, cmd := range []string{"run", "plan"} {
		r := bin(t, j, "beta", cmd, cliBook("secret-items.yaml"), "--param-from-env", "tok=CAIRN_TEST_TOK", "-p", "out="+out)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "step loop: foreach item 2 holds the value of secret parameter tok") ||
			strings.Contains(r.stdout+r.stderr, "beta") {
			t.Errorf("%s: exit %d, want 2 and the step and parameter named:\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an item ran")
	}
	if r := bin(t, j, "", "runs", "-q"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("the refused run is in the journal: %q", r.stdout)
	}
}

// D1, and resume with secrets: a run killed after its first item resumes
// with the same items and does not run the first again, even when the
// secret occurs in the journaled structure's text (here the key "items"
// of the frozen list, which redaction of the raw event once rewrote).
func TestSecretD1ResumeKeepsFrozenItems(t *testing.T) {
	// Subtests are not named by the secret: the temporary directory, and
	// so the out parameter, would hold it, which is refused.
	for name, secret := range map[string]string{"key-of-data": "items", "plain": "s3cr3t-resume"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			j, out := filepath.Join(dir, "j.db"), filepath.Join(dir, "out")
			params := []string{"--param-from-env", "tok=CAIRN_TEST_TOK"}
			// Events: run.started, items.frozen, loop[alpha] started and
			// succeeded: killed right after the fourth commit.
			cmd := exec.Command(cairnBin, append([]string{"--log-format", "json", "--journal", j, "run", cliBook("secret-items.yaml"), "-p", "out=" + out}, params...)...)
			cmd.Env = append(os.Environ(), "CAIRN_TEST_TOK="+secret, "CAIRN_KILL_AFTER=4")
			b, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the run was not killed:\n%s", b)
			}
			if got, _ := os.ReadFile(out); string(got) != "alpha\n" {
				t.Fatalf("before the resume the steps did %q:\n%s", got, b)
			}
			id := strings.TrimSpace(bin(t, j, secret, "runs", "-q").stdout)
			if r := bin(t, j, secret, append([]string{"resume", id}, params...)...); r.code != ExitOK {
				t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
			}
			if got, _ := os.ReadFile(out); string(got) != "alpha\nbeta\ngamma\n" {
				t.Errorf("the items ran as %q, want alpha, beta, gamma once each", got)
			}
			if types := exportTypes(t, j, secret, id); slices.Index(types, "items.frozen") < 0 || strings.Count(strings.Join(types, " "), "items.frozen") != 1 {
				t.Errorf("events: %v", types)
			}
			if secret != "items" {
				raw, _ := os.ReadFile(j)
				if strings.Contains(string(raw), secret) {
					t.Error("the journal holds the secret")
				}
			}
		})
	}
}

// D4: a foreach over a secret list is a load error (exit 2, line:col):
// its items would be kept in the journal and shown as instance keys.
func TestSecretD4ListItemsRefusedAtLoad(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, cmd := range []string{"run", "plan", "validate"} {
		args := []string{cmd, cliBook("secret-list.yaml")}
		if cmd != "validate" {
			args = append(args, "--param-from-env", "keys=CAIRN_TEST_TOK")
		}
		r := bin(t, j, "key-one,key-two", args...)
		if r.code != ExitUsage || !strings.Contains(r.stdout+r.stderr, "secret-list.yaml:13:14: foreach: parameter keys is secret") ||
			strings.Contains(r.stdout+r.stderr, "key-one") {
			t.Errorf("%s: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
	if raw, err := os.ReadFile(j); err == nil && strings.Contains(string(raw), "key-one") {
		t.Error("the journal holds the secret list's items")
	}
}

// D6: a secret whose value occurs in an event's structure (true, in
// {"final":true}) no longer breaks journaling: both failed attempts and the
// run's failure are journaled, and the retry happens.
func TestSecretD6ValueInEventStructure(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	r := bin(t, j, "true", "run", cliBook("secret-retry.yaml"), "--param-from-env", "tok=CAIRN_TEST_TOK")
	if r.code != ExitFailed || strings.Contains(r.stderr, "invalid character") {
		t.Fatalf("run: exit %d, want 1:\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(bin(t, j, "", "runs", "-q").stdout)
	types := strings.Join(exportTypes(t, j, "", id), " ")
	want := "run.started instance.started instance.failed instance.started instance.failed run.failed"
	if types != want {
		t.Errorf("events:\n%s\nwant\n%s", types, want)
	}
}

// D21: a secret with a default is a load error (line:col, what to do), so
// the default never reaches the journal through the playbook text.
func TestSecretD21DefaultRefusedAtLoad(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for _, cmd := range []string{"run", "plan", "validate"} {
		r := bin(t, j, "", cmd, cliBook("secret-default.yaml"))
		if r.code != ExitUsage || !strings.Contains(r.stdout+r.stderr, "secret-default.yaml:10:5: params.tok: a secret parameter cannot have a default") ||
			!strings.Contains(r.stdout+r.stderr, "--param-from-env tok=VAR, --param-from-file tok=FILE or -p tok=VALUE") {
			t.Errorf("%s: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
	if raw, err := os.ReadFile(j); err == nil && strings.Contains(string(raw), "default-s3cr3t-d21") {
		t.Error("the journal holds the secret's default")
	}
}
