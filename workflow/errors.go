package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInterrupted means a signal cancelled the run; it can be resumed.
var ErrInterrupted = errors.New("interrupted")

// ErrRefused means resume or rollback was refused because the playbook, the
// parameters or the cluster differ from the run's; --force overrides it.
var ErrRefused = errors.New("refused")

// ErrNotResumable means the run has nothing left to do (or is rolling back).
var ErrNotResumable = errors.New("not resumable")

// ErrNoApproval means approve was asked for an instance that is not waiting.
var ErrNoApproval = errors.New("not waiting for approval")

// NotResumableError says why resume has nothing to do for a run: it has
// finished, or it is rolling back (then rollback continues it).
// errors.Is(err, ErrNotResumable) holds.
type NotResumableError struct {
	RunID  string
	Status Status
}

func (e *NotResumableError) Error() string {
	switch e.Status {
	case StatusRollingBack, StatusRollbackFailed:
		return fmt.Sprintf("run %s is rolling back (%s): only a rollback continues it", e.RunID, e.Status)
	case "":
		return "no unfinished run"
	}
	return fmt.Sprintf("run %s has %s: nothing is left to resume", e.RunID, e.Status)
}

func (e *NotResumableError) Is(target error) bool { return target == ErrNotResumable }

// RefusedError is a resume or rollback refused because the playbook, the
// parameters or the cluster differ from the run's. errors.Is(err,
// ErrRefused) holds; forcing it journals the differences.
type RefusedError struct {
	RunID string
	Verb  string // resume or rollback
	Diffs []string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s of run %s refused: %s", e.Verb, e.RunID, strings.Join(e.Diffs, "; "))
}

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// MissingSecretsError lists secret parameters that must be given again:
// the journal never holds their values.
type MissingSecretsError struct {
	RunID string
	Names []string
}

func (e *MissingSecretsError) Error() string {
	return fmt.Sprintf("run %s: secret parameter(s) %s are never kept in the journal and must be given again", e.RunID, strings.Join(e.Names, ", "))
}

// ApprovalError is an approve that found no single waiting instance.
// errors.Is(err, ErrNoApproval) holds.
type ApprovalError struct {
	RunID   string
	Step    string
	Item    string
	Status  InstanceStatus // of step[item], when nothing waits
	Run     Status
	Waiting []string // the items of step that wait, when several do
}

func (e *ApprovalError) Error() string {
	if len(e.Waiting) > 1 {
		return fmt.Sprintf("run %s: step %s waits for several items (%s); name one", e.RunID, e.Step, strings.Join(e.Waiting, ", "))
	}
	return fmt.Sprintf("run %s: step %s is not waiting for approval: its status is %s, the run's %s", e.RunID, Key(e.Step, e.Item), e.Status, e.Run)
}

func (e *ApprovalError) Is(target error) bool { return target == ErrNoApproval }

// ErrPastNoReturn means a rollback was refused because the run has started
// an irreversible step.
var ErrPastNoReturn = errors.New("past a point of no return")

// PastNoReturnError names the irreversible step a run has started, and why
// it cannot be undone. errors.Is(err, ErrPastNoReturn) holds.
type PastNoReturnError struct {
	RunID       string
	Step, Item  string
	Description string
	Reason      string
	Started     time.Time
	Status      InstanceStatus
}

func (e *PastNoReturnError) Error() string {
	what := Key(e.Step, e.Item)
	if e.Description != "" {
		what += " (" + e.Description + ")"
	}
	return fmt.Sprintf("rollback of run %s refused: it passed a point of no return: step %s was started at %s and is %s; it cannot be undone: %s. Undoing the steps before it would leave the system half-migrated",
		e.RunID, what, e.Started.UTC().Format(time.RFC3339), e.Status, e.Reason)
}

func (e *PastNoReturnError) Is(target error) bool { return target == ErrPastNoReturn }

// StepError is a step instance that failed for good: its retries are spent or
// the failure is permanent. The run can be resumed once the cause is fixed.
type StepError struct {
	Step    string
	Item    string
	Attempt int
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %s (attempt %d): %v", Key(e.Step, e.Item), e.Attempt, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
