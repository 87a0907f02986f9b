package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

// Every hint the CLI can print names a command and flags that exist: each
// one is run, its CAPS placeholders filled, and must not be a usage error.
func TestEveryHintRuns(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	run := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	inv := invocation{cmd: []string{"resume"}, pos: []string{run}}
	book := writeFile(t, "book.yaml", "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: b}\nsteps:\n  - id: a\n    exec: {argv: [\"true\"]}\n")
	runInv := invocation{cmd: []string{"run"}, pos: []string{book}}
	// One error per case of hintsFor.
	cases := map[string]struct {
		inv invocation
		err error
	}{
		"untrusted":        {inv, &action.UntrustedError{RunID: run, Err: journal.ErrTampered}},
		"verify":           {inv, fmt.Errorf("x: %w", &journal.VerifyError{RunID: run})},
		"no unfinished":    {inv, &workflow.NotResumableError{}},
		"rolling back":     {inv, &workflow.NotResumableError{RunID: run, Status: workflow.StatusRollingBack}},
		"finished":         {inv, &workflow.NotResumableError{RunID: run, Status: workflow.StatusSucceeded}},
		"past no return":   {inv, &workflow.PastNoReturnError{RunID: run, Step: "s"}},
		"refused resume":   {inv, &workflow.RefusedError{RunID: run, Verb: "resume"}},
		"refused rollback": {inv, &workflow.RefusedError{RunID: run, Verb: "rollback"}},
		"secrets":          {inv, &workflow.MissingSecretsError{RunID: run, Names: []string{"token", "pace"}}},
		"several waiting":  {inv, &workflow.ApprovalError{RunID: run, Step: "canary-ok", Waiting: []string{"a", "b"}}},
		"not waiting":      {inv, &workflow.ApprovalError{RunID: run, Step: "move-rest"}},
		"no kubeconfig":    {runInv, &cluster.KubeconfigError{Missing: true}},
		"contexts":         {runInv, &cluster.KubeconfigError{Contexts: []string{"dev", "prod"}}},
		"not configured":   {runInv, fmt.Errorf("x: %w", cluster.ErrNotConfigured)},
		"lock namespace":   {runInv, &cluster.LockAccessError{Namespace: "kube-system", Err: errors.New("forbidden")}},
		"lock held":        {runInv, &cluster.HeldError{Namespace: "kube-system", Name: "cairn-lock", Identity: "cairn r1 ann@h pid 1"}},
		"journal locked":   {invocation{cmd: []string{"runs"}}, &journal.LockedError{Path: j}},
		"no such run":      {inv, fmt.Errorf("x: %w", journal.ErrRunNotFound)},
		"no playbook":      {runInv, &action.InputError{Err: &action.PlaybookNotFoundError{Ref: "x"}}},
	}
	fill := strings.NewReplacer("FILE", filepath.Join(dir, "absent-kubeconfig"), "VALUE", "v", "NAMESPACE", "cairn-locks")
	for name, tc := range cases {
		hints := hintsFor(tc.inv, tc.err)
		if len(hints) == 0 {
			t.Errorf("%s: no hint for %v", name, tc.err)
		}
		for _, h := range hints {
			args := strings.Fields(fill.Replace(strings.Join(h.args, " ")))
			r := cairn(t, j, args...)
			if r.code == ExitUsage || strings.Contains(r.stderr, "flag provided but not defined") || strings.Contains(r.stderr, "No help topic") {
				t.Errorf("%s: hint %q (run as %q) is not a valid command: exit %d\n%s", name, h.line(), args, r.code, r.stderr)
			}
		}
	}
	if hints := hintsFor(inv, errors.New("a step failed")); hints != nil {
		t.Errorf("an error without a hint got %v", hints)
	}
}

// The hint repeats the failed command's path and arguments, never its
// flags, whose values may be secrets.
func TestHintLeavesFlagsOut(t *testing.T) {
	app := newApp(nil, nil)
	args, _ := interspersed(app, []string{"cairn", "--journal", "j.db", "run", "demo", "-p", "token=hunter2", "--params-file", "p.yaml"})
	inv := invocationOf(app, args)
	if strings.Join(inv.cmd, " ") != "run" || strings.Join(inv.pos, " ") != "demo" {
		t.Fatalf("invocation %+v", inv)
	}
	h := hintsFor(inv, cluster.ErrNotConfigured)
	if len(h) != 1 || h[0].line() != "cairn run demo --kubeconfig FILE" {
		t.Errorf("hints %+v", h)
	}
	args, _ = interspersed(app, []string{"cairn", "journal", "verify", "r1"})
	inv = invocationOf(app, args)
	if strings.Join(inv.cmd, " ") != "journal verify" || strings.Join(inv.pos, " ") != "r1" {
		t.Errorf("nested command: %+v", inv)
	}
}
