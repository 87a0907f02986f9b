package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var secretBook = func() string { return filepath.Join(repoRoot, "testdata/cli/secret.yaml") }

// plan shows no secret, in any format, and -o json has params as objects.
func TestPlanHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	for _, format := range []string{"table", "json", "yaml"} {
		r := cairn(t, j, "plan", secretBook(), "-p", "token=hunter2", "-p", "out=x", "-o", format)
		if r.code != ExitOK || strings.Contains(r.stdout, "hunter2") ||
			!strings.Contains(r.stdout, "<redacted>") {
			t.Errorf("plan -o %s: exit %d\n%s%s", format, r.code, r.stdout, r.stderr)
		}
	}
	r := cairn(t, j, "plan", secretBook(), "-p", `token=hun"ter\2`, "-p", "out=x", "-o", "json")
	var entries []struct {
		Step   string
		Params map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || len(entries) != 3 || entries[0].Params["argv"] == nil {
		t.Fatalf("plan -o json: params are not objects (%v):\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "hun") {
		t.Errorf("a secret with a quote and a backslash shows in its JSON-escaped form:\n%s", r.stdout)
	}
}

// Secrets come from a file or the environment, out of the command line;
// resume asks for them again, and exits 2 for a missing one with or
// without --plan.
func TestSecretsFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	out := filepath.Join(dir, "out")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, j, "run", secretBook(), "--param-from-file", "token="+tokenFile, "-p", "out="+out)
	if r.code != ExitOK {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	if r := cairn(t, j, "approve", id, "wait"); r.code != ExitOK {
		t.Fatalf("approve: exit %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"resume"}, {"resume", "--plan"}} {
		r := cairn(t, j, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "secret parameter(s) token are never kept") {
			t.Errorf("%q without the secret: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	t.Setenv("CAIRN_TEST_TOKEN", "from-the-env")
	if r := cairn(t, j, "resume", "--param-from-env", "token=CAIRN_TEST_TOKEN"); r.code != ExitOK {
		t.Fatalf("resume: exit %d %s", r.code, r.stderr)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "from-a-file\nfrom-the-env\n" {
		t.Errorf("the steps were given:\n%s", got)
	}
	raw, _ := os.ReadFile(j)
	for _, secret := range []string{"from-a-file", "from-the-env"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the journal holds %q", secret)
		}
	}
}

func TestParamSourceErrors(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--param-from-env", "token=CAIRN_TEST_UNSET_VAR"}, "environment variable CAIRN_TEST_UNSET_VAR is not set"},
		{[]string{"--param-from-file", "token=" + filepath.Join(dir, "absent")}, "absent: no such file"},
		{[]string{"--param-from-file", "token"}, "expected NAME=FILE"},
		{[]string{"-p", "token=a", "--param-from-env", "token=HOME"}, "parameter token is given by both -p and --param-from-env"},
	} {
		r := cairn(t, j, append([]string{"plan", secretBook(), "-p", "out=x"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, want %q in %q", tc.args, r.code, tc.want, r.stderr)
		}
	}
}
