package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
)

// runInstance brings one instance to success, failure or a gate. It never
// executes an instance whose success is journaled. An instance that was
// started but never finished is first asked, through its check, whether its
// effect is already in place.
func (e *Engine) runInstance(ctx context.Context, r *runCtx, st *playbooks.Step, item string) error {
	in := r.snapshot(st.ID, item)
	switch in.Status {
	case InstSucceeded, InstSkipped:
		return nil
	case InstWaiting:
		return errPaused
	case InstApproved:
		return r.append(journal.Event{Type: EvInstanceSucceed, Step: st.ID, Item: item, Attempt: len(in.Attempts),
			Outputs:  map[string]string{"approver": in.Approver, "comment": in.Comment},
			Evidence: fmt.Sprintf("approved by %s", in.Approver)})
	}
	hasItem := st.Foreach != nil
	sc := r.scope(item, hasItem)
	if in.Status == InstPending {
		// A group's when applies to each of its steps' instances, so that
		// every instance of a skipped item is journaled as skipped.
		for _, c := range []struct {
			when *playbooks.Condition
			what string
		}{{groupWhen(st), "group when "}, {st.When, "when "}} {
			if c.when == nil {
				continue
			}
			ok, err := c.when.Eval(sc)
			if err != nil {
				return &StepError{Step: st.ID, Item: item, Err: fmt.Errorf("%s%q: %w", c.what, c.when.Source, err)}
			}
			if !ok {
				return r.append(journal.Event{Type: EvInstanceSkipped, Step: st.ID, Item: item, Evidence: c.what + c.when.Source + " is false"})
			}
		}
	}
	// Nanoseconds, so two steps restarting the same Deployment within one
	// second still get different restartedAt values.
	token := in.Token
	if token == "" {
		token = e.Now().UTC().Format(time.RFC3339Nano)
	}
	if in.Status == InstRunning {
		c, err := e.check(ctx, r, st, item, token, len(in.Attempts), sc)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		if c.done {
			return r.append(journal.Event{Type: EvInstanceChecked, Step: st.ID, Item: item, Attempt: len(in.Attempts), Token: token,
				Outputs: c.res.Outputs, Evidence: c.res.Evidence, Data: finishData{Check: c.file}.marshal()})
		}
	}
	ex, err := e.Kinds.Executor(st.Kind)
	if err != nil {
		return &StepError{Step: st.ID, Item: item, Err: err}
	}
	attempt := len(in.Attempts)
	for try := 1; ; try++ {
		attempt++
		params, err := renderParams(st.Params, sc, r.redactor)
		if err != nil {
			return &StepError{Step: st.ID, Item: item, Attempt: attempt, Err: err}
		}
		out, err := e.openOutput(r, ex, st.ID, item, "", attempt)
		if err != nil {
			return &StepError{Step: st.ID, Item: item, Attempt: attempt, Err: err}
		}
		if err := e.appendStarted(ctx, r, st.Kind, st.Timeout, journal.Event{Type: EvInstanceStarted, Step: st.ID, Item: item, Attempt: attempt, Token: token, Evidence: params.json}); err != nil {
			out.close()
			return err
		}
		res, err := e.attempt(ctx, ex, st.Timeout, steps.Instance{RunID: r.run.ID, Env: r.cluster.env(), StepID: st.ID, Item: item, Attempt: attempt, Token: token, Params: params.value, Progress: e.progress(r, st.ID, item), Output: out.line, Redactor: r.redactor})
		ref := out.close()
		switch {
		case err == nil:
			return r.append(journal.Event{Type: EvInstanceSucceed, Step: st.ID, Item: item, Attempt: attempt, Outputs: res.Outputs, Evidence: res.Evidence, Data: finishData{Output: ref}.marshal()})
		case errors.Is(err, steps.ErrAwaitApproval):
			if err := r.append(journal.Event{Type: EvGateWaiting, Step: st.ID, Item: item, Attempt: attempt}); err != nil {
				return err
			}
			return errPaused
		case ctx.Err() != nil:
			// Interrupted: the instance stays "started", and resume checks it.
			return ctx.Err()
		}
		var perm *steps.PermanentError
		final := errors.As(err, &perm) || try >= max(st.Retry.Attempts, 1)
		data := finishData{Final: &final, Output: ref}.marshal()
		if jerr := r.append(journal.Event{Type: EvInstanceFailed, Step: st.ID, Item: item, Attempt: attempt, Error: err.Error(), Evidence: res.Evidence, Data: data}); jerr != nil {
			return errors.Join(err, jerr)
		}
		if final {
			return &StepError{Step: st.ID, Item: item, Attempt: attempt, Err: err}
		}
		if err := e.Sleep(ctx, backoff(st.Retry, try)); err != nil {
			return err
		}
	}
}

func groupWhen(st *playbooks.Step) *playbooks.Condition {
	if st.Group == nil {
		return nil
	}
	return st.Group.When
}

func (e *Engine) progress(r *runCtx, step, item string) func(string) {
	return func(msg string) {
		if e.OnProgress != nil {
			e.OnProgress(step, item, r.redactor.Redact(msg))
		}
	}
}

// appendStarted journals a started event, waiting for a journal that may
// wait (see ContextJournal) no longer than the step's timeout. A kind
// without side effects (an assert, a wait) has nothing that must be
// durable elsewhere before it runs: its start is appended like any other
// event, and a mirror may batch it.
func (e *Engine) appendStarted(ctx context.Context, r *runCtx, kind string, timeout time.Duration, ev journal.Event) error {
	if ro, ok := e.Kinds.(interface{ ReadOnly(kind string) bool }); ok && ro.ReadOnly(kind) {
		return r.append(ev)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return r.appendCtx(ctx, ev)
}

// attempt runs one try under the step's timeout.
func (e *Engine) attempt(ctx context.Context, ex steps.Executor, timeout time.Duration, in steps.Instance) (steps.Result, error) {
	actx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	res, err := ex.Run(actx, in)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return res, err
}

// backoff doubles from Initial up to Max.
func backoff(r playbooks.Retry, try int) time.Duration {
	d := r.Initial
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < try; i++ {
		d *= 2
		if r.Max > 0 && d >= r.Max {
			return r.Max
		}
	}
	if r.Max > 0 && d > r.Max {
		return r.Max
	}
	return d
}

// checked is what a check found: whether the effect is in place, the
// outputs that stand in for the step's, and the check action's output file.
type checked struct {
	done bool
	res  steps.Result
	file *outputRef
}

// check asks whether an unfinished instance's effect is already in place:
// through the step's own check action if it has one, else through the kind's
// built-in Checker. Anything but a clear yes means run it again. A check
// action's outputs stand in for the step's, since the step does not run.
// The error is the journal's, or that the check's output cannot be kept.
func (e *Engine) check(ctx context.Context, r *runCtx, st *playbooks.Step, item, token string, attempt int, sc *playbooks.Scope) (checked, error) {
	in := steps.Instance{RunID: r.run.ID, Env: r.cluster.env(), StepID: st.ID, Item: item, Token: token, Progress: e.progress(r, st.ID, item), Redactor: r.redactor}
	if st.Check != nil {
		return e.checkAction(ctx, r, st, attempt, in, sc)
	}
	ex, err := e.Kinds.Executor(st.Kind)
	if err != nil {
		return checked{}, nil
	}
	params, err := playbooks.Render(st.Params, sc)
	if err != nil {
		return checked{}, nil
	}
	in.Params = params
	if oc, ok := ex.(steps.OutputChecker); ok {
		done, res, err := oc.CheckResult(ctx, in)
		if err != nil || !done {
			return checked{}, nil
		}
		res.Evidence = strings.TrimSpace("effect already in place: " + st.Kind + " check passed\n" + res.Evidence)
		return checked{done: true, res: res}, nil
	}
	c, ok := ex.(steps.Checker)
	if !ok {
		return checked{}, nil
	}
	done, err := c.Check(ctx, in)
	if err != nil || !done {
		return checked{}, nil
	}
	return checked{done: true, res: steps.Result{Evidence: "effect already in place: " + st.Kind + " check passed"}}, nil
}

// checkAction runs the step's check action, journaled like an undo:
// check.started, then instance.checked when the effect is in place or
// check.failed when it is not; a kind that streams output (exec) keeps it
// in a file of the check phase whose sha256 the second event records.
func (e *Engine) checkAction(ctx context.Context, r *runCtx, st *playbooks.Step, attempt int, in steps.Instance, sc *playbooks.Scope) (checked, error) {
	ex, err := e.Kinds.Executor(st.Check.Kind)
	if err != nil {
		return checked{}, nil
	}
	params, err := renderParams(st.Check.Params, sc, r.redactor)
	if err != nil {
		return checked{}, nil
	}
	n := r.phaseAttempts(EvCheckStarted, st.ID, in.Item) + 1
	out, err := e.openOutput(r, ex, st.ID, in.Item, runlog.Check, n)
	if err != nil {
		return checked{}, &StepError{Step: st.ID, Item: in.Item, Attempt: attempt, Err: err}
	}
	if err := r.append(journal.Event{Type: EvCheckStarted, Step: st.ID, Item: in.Item, Attempt: attempt, Token: in.Token, Evidence: params.json}); err != nil {
		out.close()
		return checked{}, err
	}
	in.Params, in.Output = params.value, out.line
	res, err := e.attempt(ctx, ex, st.Timeout, in)
	file := out.close()
	if err != nil {
		if ctx.Err() != nil {
			return checked{}, nil
		}
		e.Log.Debug().Str("error", r.redactor.Redact(err.Error())).Str("instance", Key(st.ID, in.Item)).Msg("check says not in place")
		return checked{}, r.append(journal.Event{Type: EvCheckFailed, Step: st.ID, Item: in.Item, Attempt: attempt, Token: in.Token,
			Error: err.Error(), Evidence: res.Evidence, Data: finishData{Check: file}.marshal()})
	}
	res.Evidence = "effect already in place: check " + st.Check.Kind + " passed\n" + res.Evidence
	return checked{done: true, res: res, file: file}, nil
}
