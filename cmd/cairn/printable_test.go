package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tool's escape sequences reach neither the terminal through show nor
// through the error line (D19); they are shown, neutralised, as \xNN.
func TestEscapeSequencesAreNeutralised(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "p.yaml")
	os.WriteFile(play, []byte(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: p}
steps:
  - id: noisy
    exec: {argv: [/bin/sh, -c, 'printf "\033]0;retitled\007\033[2Jcleared\r\n"; printf "\033[31mred\n" >&2; exit 3']}
`), 0o600)
	r := cairn(t, j, "run", play)
	if r.code != ExitFailed {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	line := r.stderr[strings.LastIndex(r.stderr, "cairn: "):]
	if strings.ContainsAny(line, "\x1b\x07\r") || !strings.Contains(line, `\x1b[31mred`) {
		t.Errorf("error line carries raw control characters or lost them: %q", line)
	}
	id := strings.Fields(cairn(t, j, "runs", "-q").stdout)[0]
	show := cairn(t, j, "show", id)
	if show.code != ExitOK || strings.ContainsAny(show.stdout, "\x1b\x07\r") || !strings.Contains(show.stdout, `\x1b[31mred`) {
		t.Errorf("show: exit %d, output %q", show.code, show.stdout)
	}
	if got := printable("a\tb\nc\x9bd\u009b\u00e9"); got != "a\tb\nc\\x9bd\\x9b\u00e9" {
		t.Errorf("printable = %q", got)
	}
}
