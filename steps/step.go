// Package steps holds cairn's step kinds and the registry that names them.
//
// A kind is a typed params struct (decoded strictly by the playbooks loader)
// plus an executor built from explicit dependencies. Nothing registers itself:
// NewRegistry lists every kind.
package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/playbooks"
)

// Instance is one execution of a step for one item. Params has already been
// rendered: every ${...} reference in it is replaced by its value.
type Instance struct {
	RunID   string
	StepID  string
	Item    string // "" when the step has no foreach
	Attempt int    // 1-based
	// Token is chosen by the engine before the first attempt and journaled with
	// it; every later attempt of the same instance gets the same token, so a
	// kind that derives its side effect from it (restartedAt) repeats harmlessly.
	Token  string
	Params any
	// Env is set, for the programs a step runs, by whoever runs the step:
	// KUBECONFIG selecting the run's cluster, so that a tool acts on the
	// cluster the run is bound to and not on a current-context. A step's
	// own env wins over it.
	Env map[string]string
	// Progress reports how a long step is getting on ("3/4 updated"). It is
	// never nil when the engine calls Run; it is not journaled.
	Progress func(msg string)
	// Output receives each line a program run by the step writes, secrets
	// already redacted, as it arrives; stream is "stdout" or "stderr". It
	// may be called from two goroutines at once (a program's two streams);
	// nil drops the lines. Kinds that call it say so (OutputStreamer), so
	// that the engine keeps a file of each attempt's output for them only.
	Output func(stream, line string)
	// Redactor hides the run's secrets. The engine redacts what Run
	// returns; a kind uses it only where it cuts text (an output tail),
	// so that the cut is made after redaction and never through a secret.
	// nil hides nothing.
	Redactor *playbooks.Redactor
}

// Report calls in.Progress if it is set, so kinds and tests need not check.
func (in Instance) Report(format string, args ...any) {
	if in.Progress != nil {
		in.Progress(fmt.Sprintf(format, args...))
	}
}

// Result is what a successful execution leaves for later steps and the audit.
type Result struct {
	// Outputs are published to later steps as ${steps.ID.NAME}.
	Outputs map[string]string
	// Evidence is free text kept in the journal: an output tail, the objects
	// that were changed, the value an assertion saw.
	Evidence string
}

// OutputStreamer is implemented by executors that pass a program's output
// to Instance.Output.
type OutputStreamer interface {
	StreamsOutput()
}

// Executor performs a step kind. Run must honour ctx and be safe to call again
// with the same Instance.Token after an interruption.
type Executor interface {
	Run(ctx context.Context, in Instance) (Result, error)
}

// Checker is implemented by executors that can tell, by reading the live
// system, whether the effect of an instance is already in place. The engine
// asks it before re-running an instance that was started but never finished.
type Checker interface {
	Check(ctx context.Context, in Instance) (done bool, err error)
}

// OutputChecker is a Checker that also returns the outputs the instance
// would have published, so that a step found done on resume still feeds the
// steps (and undos) that reference it.
type OutputChecker interface {
	CheckResult(ctx context.Context, in Instance) (done bool, res Result, err error)
}

// Differ is implemented by executors that can show, without changing
// anything, what a step with these rendered params would change
// (`cairn plan --diff`).
type Differ interface {
	Diff(ctx context.Context, params any) (string, error)
}

// ItemSource is implemented by executors usable under foreach to produce the
// item list, e.g. the namespaces matching a selector.
type ItemSource interface {
	Items(ctx context.Context, params any) ([]string, error)
}

// ErrAwaitApproval is returned by the gate kind. The engine pauses the run
// until `cairn approve` records an approval for the instance.
var ErrAwaitApproval = errors.New("waiting for approval")

// PermanentError marks a failure that retrying cannot fix (a failed assertion,
// an exit code that is not expected). The engine does not retry it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the engine does not retry it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}
