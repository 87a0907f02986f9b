package workflow

import (
	"encoding/json"
	"fmt"

	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
)

// attemptOutput is where an attempt's output lines go: the attempt's file
// (when the engine keeps files and the kind streams output) and OnOutput.
// An undo or a check action run for an instance is an attempt of its phase
// (runlog.Undo, runlog.Check), kept the same way in a file of its own.
type attemptOutput struct {
	w    *runlog.Writer // nil: no file
	emit func(stream, line string)
}

// openOutput creates the attempt's output file before the attempt is
// journaled as started, so that an action whose output cannot be kept
// does not run: its output is part of the audit record. phase is "" for
// the step's own attempts.
func (e *Engine) openOutput(r *runCtx, ex steps.Executor, step, item, phase string, attempt int) (*attemptOutput, error) {
	o := &attemptOutput{}
	if _, ok := ex.(steps.OutputStreamer); !ok {
		return o, nil
	}
	if e.Logs != nil {
		w, err := e.Logs.Create(r.run.ID, runlog.PhaseFileName(step, item, phase, attempt))
		if err != nil {
			return nil, fmt.Errorf("keep the output of %s: %w", attemptName(phase, attempt), err)
		}
		o.w = w
	}
	if e.OnOutput != nil {
		o.emit = func(stream, line string) { e.OnOutput(step, item, phase, stream, line) }
	}
	return o, nil
}

// attemptName is "attempt 2", "undo attempt 1", "check attempt 1".
func attemptName(phase string, n int) string {
	if phase == "" {
		return fmt.Sprintf("attempt %d", n)
	}
	return fmt.Sprintf("%s attempt %d", phase, n)
}

// phaseAttempts counts the events of type typ journaled for step[item]:
// the undo or check attempts started so far.
func (r *runCtx) phaseAttempts(typ, step, item string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.state.Events {
		if ev.Type == typ && ev.Step == step && ev.Item == item {
			n++
		}
	}
	return n
}

// line is steps.Instance.Output. The kind has redacted the line.
func (o *attemptOutput) line(stream, line string) {
	if o.w != nil {
		// A write error is kept by the writer and reported by close.
		_ = o.w.Line(stream, line)
	}
	if o.emit != nil {
		o.emit(stream, line)
	}
}

// close syncs the file and returns what the finishing event records of it.
func (o *attemptOutput) close() *outputRef {
	if o.w == nil {
		return nil
	}
	ref, err := o.w.Close()
	out := &outputRef{Ref: ref}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// outputRef is an attempt's output file as its finishing event records it:
// its name in the run's directory, sha256 and size, and why it may be
// incomplete.
type outputRef struct {
	runlog.Ref
	Error string `json:"error,omitempty"`
}

// finishData is the Data of an instance's succeeded or failed event, and
// of an undo's: Output is the attempt's (or the undo's) output file. A
// check's file is under Check, in instance.checked (which also ends the
// attempt it checked, whose own file is not the check's) and in
// check.failed.
type finishData struct {
	Final  *bool      `json:"final,omitempty"` // failed only: no retry follows
	Output *outputRef `json:"output,omitempty"`
	Check  *outputRef `json:"check,omitempty"`
}

func (d finishData) marshal() json.RawMessage {
	if d.Final == nil && d.Output == nil && d.Check == nil {
		return nil
	}
	b, _ := json.Marshal(d)
	return b
}
