package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

// The libraries return typed errors; the words an operator should type next
// are added here, once, so that they name commands and flags that exist
// (hints_test.go runs every one of them).

// hint is a command line to try, and why.
type hint struct {
	why  string
	args []string // after "cairn"; CAPS words are for the operator to fill
}

func (h hint) line() string { return "cairn " + strings.Join(h.args, " ") }

// invocation is the command that failed: its command path and positional
// arguments. Flags are left out: their values may be secrets.
type invocation struct {
	cmd []string // e.g. [resume] or [journal verify]
	pos []string
}

// again is the failed command with extra flags; the operator adds the
// flags given before, which are not repeated here.
func (inv invocation) again(flags ...string) []string {
	out := append(append(append([]string(nil), inv.cmd...), inv.pos...), flags...)
	return out
}

// invocationOf reads the command path and positional arguments from args
// as interspersed ordered them: global flags, commands, their flags, the
// rest.
func invocationOf(app *cli.App, args []string) invocation {
	var inv invocation
	rest := args[min(1, len(args)):]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		rest = rest[flagWidth(app.Flags, rest):]
	}
	cmds := app.Commands
	var flags []cli.Flag
	for len(rest) > 0 {
		c := findCommand(cmds, rest[0])
		if c == nil {
			break
		}
		inv.cmd = append(inv.cmd, c.Name)
		rest, flags, cmds = rest[1:], c.Flags, c.Subcommands
	}
	for len(rest) > 0 {
		switch a := rest[0]; {
		case a == "--":
			inv.pos = append(inv.pos, rest[1:]...)
			rest = nil
		case strings.HasPrefix(a, "-") && a != "-":
			rest = rest[flagWidth(flags, rest):]
		default:
			inv.pos, rest = append(inv.pos, a), rest[1:]
		}
	}
	return inv
}

// hintsFor says what to type next after err, if anything helps.
func hintsFor(inv invocation, err error) []hint {
	var (
		untrusted *action.UntrustedError
		verify    *journal.VerifyError
		done      *workflow.NotResumableError
		refused   *workflow.RefusedError
		past      *workflow.PastNoReturnError
		secrets   *workflow.MissingSecretsError
		approval  *workflow.ApprovalError
		kubecfg   *cluster.KubeconfigError
		lockNS    *cluster.LockAccessError
		locked    *journal.LockedError
		noBook    *action.PlaybookNotFoundError
		held      *cluster.HeldError
	)
	switch {
	case errors.As(err, &untrusted):
		return []hint{{"see every problem", []string{"journal", "verify", untrusted.RunID}}}
	case errors.As(err, &verify) && !isCmd(inv, "journal", "verify"):
		return []hint{{"see every problem", []string{"journal", "verify", verify.RunID}}}
	case errors.As(err, &done):
		switch done.Status {
		case "":
			return []hint{{"list the runs", []string{"runs"}}}
		case workflow.StatusRollingBack, workflow.StatusRollbackFailed:
			return []hint{{"continue the rollback", []string{"rollback", done.RunID}}}
		}
		return []hint{{"audit it", []string{"show", done.RunID}}}
	case errors.As(err, &past):
		return []hint{{"see the run", []string{"show", past.RunID}}, {"or carry it forward", []string{"resume", past.RunID}}}
	case errors.As(err, &refused):
		return []hint{{"to " + refused.Verb + " anyway (the override is journaled)", []string{refused.Verb, refused.RunID, "--force"}}}
	case errors.As(err, &secrets):
		args := []string{firstOr(inv.cmd, "resume"), secrets.RunID}
		for _, n := range secrets.Names {
			args = append(args, "-p", n+"=VALUE")
		}
		return []hint{{"give them again", args}}
	case errors.As(err, &approval):
		if len(approval.Waiting) > 1 {
			var out []hint
			for _, it := range approval.Waiting {
				out = append(out, hint{"approve one", []string{"approve", approval.RunID, approval.Step, "--item", it}})
			}
			return out
		}
		return []hint{{"see what the run waits for", []string{"show", approval.RunID}}}
	case errors.As(err, &kubecfg):
		if kubecfg.Missing || len(kubecfg.Contexts) == 0 {
			return []hint{{"name the kubeconfig (and give your other flags again)", inv.again("--kubeconfig", "FILE")}}
		}
		var out []hint
		for _, c := range kubecfg.Contexts[:min(len(kubecfg.Contexts), 5)] {
			out = append(out, hint{"pick a context (and give your other flags again)", inv.again("--context", c)})
		}
		return out
	case errors.Is(err, cluster.ErrNotConfigured):
		return []hint{{"name the cluster (and give your other flags again)", inv.again("--kubeconfig", "FILE")}}
	case errors.As(err, &held) && (isCmd(inv, "run") || isCmd(inv, "resume") || isCmd(inv, "rollback")):
		return []hint{{"wait for it instead (and give your other flags again)", inv.again("--wait-lock")}}
	case errors.As(err, &lockNS):
		return []hint{{"keep the lock in another namespace, the same for every cairn on this cluster (and give your other flags again)", inv.again("--lock-namespace", "NAMESPACE")}}
	case errors.As(err, &locked):
		return []hint{{"use another journal (and give your other flags again)", append([]string{"--journal", "FILE"}, inv.again()...)},
			{"or watch what the run holding it prints", []string{"logs", action.LatestRun, "-f"}}}
	case errors.Is(err, journal.ErrRunNotFound), errors.As(err, new(*action.RunRefError)):
		return []hint{{"list the runs", []string{"runs"}}}
	case errors.As(err, &noBook):
		return []hint{{"list the built-in playbooks", []string{"playbooks"}}}
	}
	return nil
}

func isCmd(inv invocation, path ...string) bool {
	return strings.Join(inv.cmd, " ") == strings.Join(path, " ")
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
