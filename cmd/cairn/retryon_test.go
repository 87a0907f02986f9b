package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An exec step whose exit code is in retryOn is retried as its retry says,
// and each attempt is journaled; another exit code fails at once.
func TestExecRetryOnRetries(t *testing.T) {
	dir := t.TempDir()
	pb := filepath.Join(dir, "flaky.yaml")
	src := `apiVersion: cairn/v1
kind: Playbook
metadata: {name: flaky}
params:
  dir: {type: string, required: true}
  failWith: {type: int, required: true}
steps:
  - id: flaky
    retry: {attempts: 3, initialBackoff: 10ms}
    exec:
      argv: [/bin/sh, -c, 'n=$(cat "$1/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1/n"; [ $n -ge 3 ] || exit "$2"', sh, "${params.dir}", "${params.failWith}"]
      retryOn: [75]
`
	if err := os.WriteFile(pb, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "validate", pb); r.code != ExitOK || strings.Contains(r.stdout, "warning") {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stdout)
	}
	if r := cairn(t, j, "run", pb, "-p", "dir="+dir, "-p", "failWith=75"); r.code != ExitOK {
		t.Fatalf("run with exit 75 in retryOn: exit %d\n%s", r.code, r.stderr)
	}
	show := cairn(t, j, "show", "-o", "json").stdout
	if n := strings.Count(show, `"n": `); n != 3 {
		t.Errorf("%d attempts shown, want 3 (two exits 75, then success):\n%s", n, show)
	}

	if err := os.Remove(filepath.Join(dir, "n")); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, j, "run", pb, "-p", "dir="+dir, "-p", "failWith=4")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "exit code 4") {
		t.Fatalf("run with exit 4, not in retryOn: exit %d\n%s", r.code, r.stderr)
	}
	if n, _ := os.ReadFile(filepath.Join(dir, "n")); strings.TrimSpace(string(n)) != "1" {
		t.Errorf("the step ran %s times, want 1: exit 4 is not retried", n)
	}
}
