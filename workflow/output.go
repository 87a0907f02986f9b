package workflow

import (
	"encoding/json"
	"fmt"

	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
)

// attemptOutput is where an attempt's output lines go: the attempt's file
// (when the engine keeps files and the kind streams output) and OnOutput.
type attemptOutput struct {
	w    *runlog.Writer // nil: no file
	emit func(stream, line string)
}

// openOutput creates the attempt's output file before the attempt is
// journaled as started, so that a step whose output cannot be kept does
// not run: its output is part of the audit record.
func (e *Engine) openOutput(r *runCtx, ex steps.Executor, step, item string, attempt int) (*attemptOutput, error) {
	o := &attemptOutput{}
	if _, ok := ex.(steps.OutputStreamer); !ok {
		return o, nil
	}
	if e.Logs != nil {
		w, err := e.Logs.Create(r.run.ID, step, item, attempt)
		if err != nil {
			return nil, fmt.Errorf("keep the output of attempt %d: %w", attempt, err)
		}
		o.w = w
	}
	if e.OnOutput != nil {
		o.emit = func(stream, line string) { e.OnOutput(step, item, stream, line) }
	}
	return o, nil
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

// finishData is the Data of an instance's succeeded or failed event.
type finishData struct {
	Final  *bool      `json:"final,omitempty"` // failed only: no retry follows
	Output *outputRef `json:"output,omitempty"`
}

func (d finishData) marshal() json.RawMessage {
	if d.Final == nil && d.Output == nil {
		return nil
	}
	b, _ := json.Marshal(d)
	return b
}
