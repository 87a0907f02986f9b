package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

// Exit codes, documented in `cairn --help` and the README.
const (
	ExitOK          = 0   // done, or paused at a gate
	ExitFailed      = 1   // a step failed; fix the cause and `cairn resume`
	ExitUsage       = 2   // bad flags, arguments, parameters or playbook
	ExitJournal     = 3   // journal locked, unreadable, tampered, or no such run
	ExitRefused     = 4   // resume/rollback/approve refused; see the message
	ExitCluster     = 5   // cluster unreachable or kubeconfig unusable
	ExitInterrupted = 130 // interrupted by a signal; `cairn resume` continues
)

const exitCodesHelp = `EXIT CODES:
   0    done, or paused at a gate waiting for approval
   1    a step failed; fix the cause, then cairn resume
   2    bad flags, arguments, parameters or playbook
   3    journal locked, unreadable, full or tampered, no such run, or a record
        too large for it (4 MiB); also a journal mirror in the cluster whose
        chain does not hold (resume --from-cluster refuses it)
   4    refused: another cairn run holds the cluster lock; or resume, rollback or
        approve refused (changed playbook, params or cluster; nothing to do);
        or the run went on elsewhere (its journal mirror in the cluster was
        extended by another cairn)
   5    cluster unreachable or kubeconfig unusable, or the journal mirror in
        the cluster cannot be read or written
   130  interrupted by SIGINT/SIGTERM; cairn resume continues`

// usageError marks errors in what the user typed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode maps an error to its documented exit code.
func exitCode(err error) int {
	var (
		ue      usageError
		pe      playbooks.Errors
		ie      *action.InputError
		ce      *action.ClusterError
		ke      *cluster.KubeconfigError
		held    *cluster.HeldError
		secrets *workflow.MissingSecretsError
		ref     *action.RunRefError
		mconf   *cluster.ConflictError
		mirror  *cluster.MirrorError
		inClear *playbooks.SecretError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, workflow.ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &ue), errors.As(err, &pe), errors.As(err, &ie), errors.As(err, &secrets),
		errors.As(err, &ref) && ref.Ambiguous(),
		errors.As(err, &inClear):
		return ExitUsage
	case errors.Is(err, journal.ErrTampered):
		// Before a cluster error: a broken mirror chain is refused as a
		// broken journal is, whatever else went wrong with it.
		return ExitJournal
	case errors.As(err, &mconf):
		return ExitRefused
	case errors.As(err, &ce), errors.As(err, &ke), errors.Is(err, cluster.ErrNotConfigured), errors.As(err, &mirror):
		return ExitCluster
	case errors.Is(err, workflow.ErrRefused), errors.Is(err, workflow.ErrNotResumable), errors.Is(err, workflow.ErrNoApproval),
		errors.Is(err, workflow.ErrPastNoReturn),
		errors.As(err, &held):
		return ExitRefused
	case errors.Is(err, journal.ErrLocked), errors.Is(err, journal.ErrNewerSchema), errors.Is(err, journal.ErrNotJournal),
		errors.Is(err, journal.ErrNoJournal), errors.Is(err, journal.ErrRunNotFound), errors.Is(err, journal.ErrTampered),
		errors.Is(err, journal.ErrUnreadable), errors.Is(err, journal.ErrTooLarge):
		return ExitJournal
	}
	// Failed steps (*workflow.StepError) and anything unforeseen.
	return ExitFailed
}

// Main runs the CLI and is the one place that prints errors, each followed
// by the commands that would help, if any.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	ordered, err := interspersed(app, args)
	if err == nil {
		err = app.RunContext(ctx, ordered)
		args = ordered
	}
	if err == nil {
		return ExitOK
	}
	if errors.As(err, new(usageError)) {
		err = flagError(app, invocationOf(app, args), args, err)
	}
	fmt.Fprintf(stderr, "cairn: %s\n", printable(err.Error()))
	for _, h := range hintsFor(invocationOf(app, args), err) {
		fmt.Fprintf(stderr, "  %s: %s\n", h.why, h.line())
	}
	return exitCode(err)
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }
