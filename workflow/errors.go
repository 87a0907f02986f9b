package workflow

import (
	"errors"
	"fmt"
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
