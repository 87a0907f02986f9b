package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The bash script, sourced in a real bash with cairn on PATH, completes
// commands, flags being typed, built-in playbook names, run ids and, for
// approve, the waiting runs and then their waiting gates.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed for this test: %v", err)
	}
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	script := cairn(t, j, "completion", "bash").stdout
	complete := func(words ...string) []string {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "-c", script+`
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _cairn_complete; printf '%s\n' "${COMPREPLY[@]}"`, "bash")
		cmd.Args = append(cmd.Args, words...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cairnBin)+":"+os.Getenv("PATH"), "CAIRN_JOURNAL="+j)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v", words, err)
		}
		return strings.Fields(string(out))
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"cairn", "pl"}, []string{"plan", "playbooks"}},
		{[]string{"cairn", "run", "asm-"}, []string{"asm-asmcli-canary", "asm-managed-migration", "asm-revision-upgrade"}},
		{[]string{"cairn", "playbooks", "show", "de"}, []string{"demo"}},
		{[]string{"cairn", "show", ""}, []string{id, "@latest"}},
		{[]string{"cairn", "approve", ""}, []string{id, "@latest"}},
		{[]string{"cairn", "approve", id, ""}, []string{"canary-ok"}},
		{[]string{"cairn", "approve", id, "--com"}, []string{"--comment"}},
		{[]string{"cairn", "show", id, "--ou"}, []string{"--output"}},
		{[]string{"cairn", "completion", "f"}, []string{"fish"}},
		{[]string{"cairn", "report", ""}, []string{id, "@latest"}},
		{[]string{"cairn", "logs", ""}, []string{id, "@latest"}},
	} {
		if got := complete(c.words...); !slices.Equal(got, c.want) {
			t.Errorf("completing %q: %q, want %q", c.words, got, c.want)
		}
	}
	if r := cairn(t, j, "approve", id, "canary-ok"); r.code != ExitOK {
		t.Fatalf("approve: %d %s", r.code, r.stderr)
	}
	if got := complete("cairn", "approve", id, ""); slices.Contains(got, "canary-ok") {
		t.Errorf("an approved gate is still offered: %q", got)
	}
}

// Each shell gets its script; an unknown shell is a usage error.
func TestCompletionScripts(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	for shell, want := range map[string]string{"bash": "complete -o default -F _cairn_complete cairn", "zsh": "compdef _cairn cairn", "fish": "complete -c cairn -a '(__cairn_complete)'"} {
		if r := cairn(t, j, "completion", shell); r.code != ExitOK || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "--generate-bash-completion") {
			t.Errorf("completion %s: exit %d\n%s", shell, r.code, r.stdout)
		}
	}
	if r := cairn(t, j, "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", r.code, ExitUsage)
	}
}
