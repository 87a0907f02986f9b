package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps"
)

// Rollback runs the undo action of every succeeded instance (and, for steps
// marked undoFailed, of every failed or interrupted one), newest first.
// It is a phase of the same run, journaled like the forward phase, so an
// interrupted rollback resumes by running `cairn rollback` again: undos that
// succeeded are not repeated.
func (e *Engine) Rollback(ctx context.Context, req ResumeRequest) (Outcome, error) {
	r, err := e.reopen(req, "rollback")
	if err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	out := Outcome{RunID: req.RunID}
	if r.state.Status == StatusRolledBack {
		out.Status = StatusRolledBack
		return out, fmt.Errorf("run %s is already rolled back: %w", req.RunID, ErrNotResumable)
	}
	ctx, held, unlock, err := e.lockRun(ctx, req.RunID, "rollback")
	if err != nil {
		return out, err
	}
	defer unlock()
	if err := r.journalForced(); err != nil {
		return out, err
	}
	if err := r.append(journal.Event{Type: EvRollbackStarted, User: e.User}); err != nil {
		return out, err
	}
	if err := r.noteTakeover(held); err != nil {
		return out, err
	}
	for _, key := range r.undoOrder() {
		if err := e.undo(ctx, r, key); err != nil {
			if ctx.Err() != nil {
				out.Status = StatusRollingBack
				if jerr := r.append(journal.Event{Type: EvRollbackInterrup, Error: context.Cause(ctx).Error()}); jerr != nil {
					return out, jerr
				}
				return out, lockLost(ctx, fmt.Errorf("rollback of run %s: %w", req.RunID, ErrInterrupted))
			}
			out.Status = StatusRollbackFailed
			return out, errors.Join(err, r.append(journal.Event{Type: EvRollbackFailed, Step: key.Step, Item: key.Item, Error: err.Error()}))
		}
	}
	out.Status = StatusRolledBack
	return out, r.append(journal.Event{Type: EvRollbackDone})
}

// undoOrder lists, newest first, the succeeded instances whose step has an
// undo, and the failed or interrupted ones of steps marked undoFailed.
// Instances are ordered by the sequence of their last event (success,
// failure or start), which is the order their effects took place in.
func (r *runCtx) undoOrder() []*Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []*Instance
	for i := len(r.state.Events) - 1; i >= 0; i-- {
		ev := r.state.Events[i]
		k := Key(ev.Step, ev.Item)
		st := r.step(ev.Step)
		if seen[k] || st == nil || st.Undo == nil {
			continue
		}
		in := r.state.Instances[k]
		switch {
		case ev.Type == EvInstanceSucceed || ev.Type == EvInstanceChecked:
		case (ev.Type == EvInstanceFailed || ev.Type == EvInstanceStarted) && st.UndoFailed &&
			in != nil && (in.Status == InstFailed || in.Status == InstRunning):
		default:
			continue
		}
		seen[k] = true
		out = append(out, in)
	}
	return out
}

func (e *Engine) undo(ctx context.Context, r *runCtx, in *Instance) error {
	if r.snapshot(in.Step, in.Item).Undo == InstSucceeded {
		return nil
	}
	st := r.step(in.Step)
	ex, err := e.Kinds.Executor(st.Undo.Kind)
	if err != nil {
		return fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
	}
	sc := r.scope(in.Item, st.Foreach != nil)
	params, err := renderParams(st.Undo.Params, sc)
	if err != nil {
		return fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
	}
	// An undo has its own token: an undo of a restart is another restart and
	// must not carry the restartedAt the forward step already stamped.
	token := in.Token + "/undo"
	if err := r.append(journal.Event{Type: EvUndoStarted, Step: in.Step, Item: in.Item, Token: token, Evidence: params.json}); err != nil {
		return err
	}
	res, err := e.attempt(ctx, ex, st.Timeout, steps.Instance{RunID: r.run.ID, StepID: st.ID, Item: in.Item, Attempt: 1, Token: token, Params: params.value, Progress: e.progress(st.ID, in.Item)})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
		return errors.Join(err, r.append(journal.Event{Type: EvUndoFailed, Step: in.Step, Item: in.Item, Error: err.Error(), Evidence: res.Evidence}))
	}
	return r.append(journal.Event{Type: EvUndoSucceeded, Step: in.Step, Item: in.Item, Outputs: res.Outputs, Evidence: res.Evidence})
}
