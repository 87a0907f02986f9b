package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate prints a warning with its position and still passes the file;
// run logs it.
func TestValidateWarnsAboutShellSplice(t *testing.T) {
	dir := t.TempDir()
	play := filepath.Join(dir, "p.yaml")
	os.WriteFile(play, []byte("apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: p}\nparams:\n  msg: {type: string, default: hi}\nsteps:\n  - id: s\n    exec: {argv: [sh, -c, \"echo ${params.msg}\"]}\n"), 0o600)
	j := filepath.Join(dir, "j.db")
	r := cairn(t, j, "validate", play)
	if r.code != ExitOK || !strings.Contains(r.stdout, play+":8:27: warning: ${params.msg} is spliced into the sh script") {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cairn(t, j, "run", play)
	if r.code != ExitOK || !strings.Contains(r.stderr, `"level":"warn"`) || !strings.Contains(r.stderr, "is spliced into the sh script") {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
}
