package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/runlog"
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
		return out, &NotResumableError{RunID: req.RunID, Status: StatusRolledBack}
	}
	if err := r.pastNoReturn(); err != nil {
		return out, err
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
	if err := e.killLeftovers(ctx, r); err != nil {
		return out, lockLost(ctx, r.redactErr(err))
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
			return out, r.redactErr(errors.Join(err, r.append(journal.Event{Type: EvRollbackFailed, Step: key.Step, Item: key.Item, Error: err.Error()})))
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
	params, err := renderParams(st.Undo.Params, sc, r.redactor)
	if err != nil {
		return fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
	}
	// An undo has its own token: an undo of a restart is another restart and
	// must not carry the restartedAt the forward step already stamped.
	token := in.Token + "/undo"
	// Each rollback that reaches this undo is one more attempt of it, with
	// its own output file: an earlier one's, which its finishing event
	// recorded, is kept.
	n := r.phaseAttempts(EvUndoStarted, in.Step, in.Item) + 1
	out, err := e.openOutput(r, ex, in.Step, in.Item, runlog.Undo, n)
	if err != nil {
		return fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
	}
	if err := e.appendStarted(ctx, r, st.Undo.Kind, st.Timeout, journal.Event{Type: EvUndoStarted, Step: in.Step, Item: in.Item, Token: token, Evidence: params.json}); err != nil {
		out.close()
		return err
	}
	res, err := e.attempt(ctx, ex, st.Timeout, steps.Instance{RunID: r.run.ID, Env: r.cluster.env(), StepID: st.ID, Item: in.Item, Attempt: 1, Token: token, Params: params.value, Progress: e.progress(r, st.ID, in.Item), Output: out.line, Redactor: r.redactor})
	data := finishData{Output: out.close()}.marshal()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("undo %s: %w", Key(in.Step, in.Item), err)
		return errors.Join(err, r.append(journal.Event{Type: EvUndoFailed, Step: in.Step, Item: in.Item, Error: err.Error(), Evidence: res.Evidence, Data: data}))
	}
	return r.append(journal.Event{Type: EvUndoSucceeded, Step: in.Step, Item: in.Item, Outputs: res.Outputs, Evidence: res.Evidence, Data: data})
}

// pastNoReturn refuses a rollback once the run has started an irreversible
// step: undoing the steps before it would leave a half-migrated system.
func (r *runCtx) pastNoReturn() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.pb.Steps {
		if st.Irreversible == "" {
			continue
		}
		for _, in := range r.state.Instances {
			if in.Step != st.ID || len(in.Attempts) == 0 {
				continue
			}
			return &PastNoReturnError{RunID: r.run.ID, Step: st.ID, Item: in.Item, Description: st.Description,
				Reason: st.Irreversible, Started: in.Attempts[0].Started, Status: in.Status}
		}
	}
	return nil
}

// RollbackPlan tells what rollback would undo, newest first, and what it
// would pass over; it refuses like Rollback past a point of no return.
func (e *Engine) RollbackPlan(runID string, pb *playbooks.Playbook, vals playbooks.Values) ([]PlanEntry, error) {
	entries, noReturn, err := e.UndoPlan(runID, pb, vals)
	if err != nil {
		return nil, err
	}
	if noReturn != nil {
		return nil, noReturn
	}
	return entries, nil
}

// UndoPlan is RollbackPlan that works the entries out past a point of no
// return too, and returns the refusal beside them: an audit shows what each
// instance's undo holds even when rollback would refuse to run it.
func (e *Engine) UndoPlan(runID string, pb *playbooks.Playbook, vals playbooks.Values) ([]PlanEntry, *PastNoReturnError, error) {
	st, err := e.Load(runID)
	if err != nil {
		return nil, nil, err
	}
	r := e.newRun(st.Run, pb, vals, st, Binding{})
	var noReturn *PastNoReturnError
	if err := r.pastNoReturn(); err != nil && !errors.As(err, &noReturn) {
		return nil, nil, err
	}
	var out []PlanEntry
	for _, in := range r.undoOrder() {
		step := r.step(in.Step)
		pe := PlanEntry{Step: in.Step, Item: in.Item, Kind: step.Undo.Kind, Description: step.Description, Action: PlanRun, Undo: step.Undo.Kind}
		if step.Group != nil {
			pe.Group = step.Group.ID
		}
		switch {
		case in.Undo == InstSucceeded:
			pe.Action, pe.Reason = PlanSkip, "already undone"
		case in.Status == InstSucceeded:
			pe.Reason = "undo of a step that succeeded"
		default:
			pe.Reason = fmt.Sprintf("undo of a step that is %s (undoFailed)", in.Status)
		}
		if in.Undo == InstFailed {
			pe.Action, pe.Reason = PlanRetry, "its undo failed: "+in.UndoErr
		}
		sc := r.scope(in.Item, step.Foreach != nil)
		sc.Cluster = map[string]string{"kubeconfig": "<cluster.kubeconfig>", "context": "<cluster.context>"}
		if rp, err := renderParams(step.Undo.Params, sc, r.redactor); err == nil {
			pe.Params, pe.Value = ParamsJSON(rp.json), rp.value
		} else {
			pe.Params = ParamsJSON("cannot be rendered yet: " + r.redactor.Redact(err.Error()))
		}
		out = append(out, pe)
	}
	return out, noReturn, nil
}
