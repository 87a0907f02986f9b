package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
)

// errPaused stops a step when a gate waits for approval.
var errPaused = errors.New("paused at a gate")

// execute walks the playbook in order. Instances already finished in the
// journal are passed over, so the same walk serves start and resume.
func (e *Engine) execute(ctx context.Context, r *runCtx) (Outcome, error) {
	out := Outcome{RunID: r.run.ID}
	var done *playbooks.Group
	for _, st := range r.pb.Steps {
		failed := st.ID
		var err error
		if g := st.Group; g != nil {
			// A group's steps are next to each other in pb.Steps: the
			// first one runs the whole group, item by item.
			if g == done {
				continue
			}
			done = g
			failed = g.ID // unless one of its steps failed
			err = e.runGroup(ctx, r, g)
			var se *StepError
			if errors.As(err, &se) {
				failed = se.Step
			}
		} else {
			var items []string
			items, err = e.items(ctx, r, st.ID, st.Foreach)
			if err == nil {
				err = e.runStep(ctx, r, st, items)
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, errPaused):
			out.Status, out.Waiting = StatusWaiting, r.waiting()
			return out, r.journalPause(out.Waiting)
		case ctx.Err() != nil:
			out.Status = StatusInterrupted
			if jerr := r.append(journal.Event{Type: EvRunInterrupted, Error: context.Cause(ctx).Error()}); jerr != nil {
				return out, jerr
			}
			return out, fmt.Errorf("run %s: %w", r.run.ID, ErrInterrupted)
		default:
			out.Status = StatusFailed
			if jerr := r.append(journal.Event{Type: EvRunFailed, Step: failed, Error: err.Error()}); jerr != nil {
				return out, errors.Join(err, jerr)
			}
			return out, err
		}
	}
	out.Status = StatusSucceeded
	return out, r.append(journal.Event{Type: EvRunSucceeded})
}

// items returns the items of a step's (or a group's, under its id)
// instances. A foreach list is expanded once and frozen in the journal, so a
// resume walks the same items in the same order even if the parameters or
// the cluster changed since.
func (e *Engine) items(ctx context.Context, r *runCtx, id string, fe *playbooks.Foreach) ([]string, error) {
	if fe == nil {
		return []string{""}, nil
	}
	if items, ok := r.frozenItems(id); ok {
		return items, nil
	}
	items, err := e.expand(ctx, r, fe)
	if err == nil {
		if err = secretItems(id, items, r.pb, r.vals); err != nil {
			return nil, err
		}
		err = uniqueItems(items)
	}
	if err != nil {
		return nil, fmt.Errorf("step %s: foreach: %w", id, err)
	}
	data, _ := json.Marshal(itemsData{Items: items})
	return items, r.append(journal.Event{Type: EvItemsFrozen, Step: id, Data: data})
}

// uniqueItems refuses a list naming an item twice: instances are keyed by
// item, so the repeats would be merged silently ("3/3 done" for one).
func uniqueItems(items []string) error {
	seen := make(map[string]int, len(items))
	for i, it := range items {
		if j, ok := seen[it]; ok {
			return fmt.Errorf("item %q appears twice (items %d and %d); each item must be unique", it, j+1, i+1)
		}
		seen[it] = i
	}
	return nil
}

func (e *Engine) expand(ctx context.Context, r *runCtx, fe *playbooks.Foreach) ([]string, error) {
	sc := r.scope("", false)
	switch {
	case fe.Param != "":
		list, ok := r.vals[fe.Param].([]string)
		if !ok {
			return nil, fmt.Errorf("parameter %s is not a list", fe.Param)
		}
		return append([]string(nil), list...), nil
	case fe.Source != nil:
		ex, err := e.Kinds.Executor(fe.Source.Kind)
		if err != nil {
			return nil, err
		}
		src, ok := ex.(steps.ItemSource)
		if !ok {
			return nil, fmt.Errorf("%s cannot produce items", fe.Source.Kind)
		}
		params, err := playbooks.Render(fe.Source.Params, sc)
		if err != nil {
			return nil, err
		}
		return src.Items(ctx, params)
	}
	items := make([]string, 0, len(fe.Items))
	for _, it := range fe.Items {
		v, err := playbooks.RenderString(it, sc)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}

// runStep runs a step's instances in item order, at most MaxParallel at once.
func (e *Engine) runStep(ctx context.Context, r *runCtx, st *playbooks.Step, items []string) error {
	return runItems(ctx, st.MaxParallel, items, func(item string, _ func() bool) error {
		return e.runInstance(ctx, r, st, item)
	})
}

// runGroup runs a group item-major: for each item, its steps in order, each
// only after the previous one succeeded or was skipped. Instances already
// finished in the journal pass at once, so a resume continues every item at
// the step where it stopped.
func (e *Engine) runGroup(ctx context.Context, r *runCtx, g *playbooks.Group) error {
	items, err := e.items(ctx, r, g.ID, g.Foreach)
	if err != nil {
		return err
	}
	return runItems(ctx, g.MaxParallel, items, func(item string, stopped func() bool) error {
		for _, st := range g.Steps {
			// Another item failed or paused: like a foreach step, start
			// nothing new; this item continues here on resume.
			if stopped() {
				return nil
			}
			if err := e.runInstance(ctx, r, st, item); err != nil {
				return err
			}
		}
		return nil
	})
}

// runItems calls run for each item in order, at most limit at once. After
// the first failure or pause no new item starts, and run is told so through
// stopped; the running ones finish, so the journal never holds an instance
// abandoned mid-way by us.
func runItems(ctx context.Context, limit int, items []string, run func(item string, stopped func() bool) error) error {
	sem := make(chan struct{}, max(limit, 1))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(errs) > 0 || ctx.Err() != nil
	}
	for _, item := range items {
		if stopped() {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if stopped() {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := run(item, stopped); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, err := range errs {
		if !errors.Is(err, errPaused) {
			return err
		}
	}
	if len(errs) > 0 {
		return errPaused
	}
	return nil
}

// journalPause makes the journal read as waiting when the run pauses: a
// resume that finds its gate still waiting, or an item that finished after
// another one paused at its gate, leaves another event last, and the run
// would read as running with no process at work. The first waiting gate's
// gate.waiting is journaled again.
func (r *runCtx) journalPause(waiting []Waiting) error {
	if r.state.Status == StatusWaiting || len(waiting) == 0 {
		return nil
	}
	w := waiting[0]
	in := r.snapshot(w.Step, w.Item)
	return r.append(journal.Event{Type: EvGateWaiting, Step: w.Step, Item: w.Item, Attempt: len(in.Attempts)})
}

func (r *runCtx) waiting() []Waiting {
	var out []Waiting
	r.mu.Lock()
	for _, st := range r.pb.Steps {
		items := r.state.Items[st.ItemsID()]
		if st.Foreach == nil {
			items = []string{""}
		}
		for _, it := range items {
			if in, ok := r.state.Instances[Key(st.ID, it)]; ok && in.Status == InstWaiting {
				out = append(out, Waiting{Step: st.ID, Item: it})
			}
		}
	}
	r.mu.Unlock()
	// Messages are rendered outside the lock: they may read step outputs.
	for i, w := range out {
		st := r.step(w.Step)
		out[i].Message = r.redactor.Redact(gateMessage(st, r.scope(w.Item, st.Foreach != nil)))
	}
	return out
}

func gateMessage(st *playbooks.Step, sc *playbooks.Scope) string {
	p, ok := st.Params.(interface{ GateMessage() string })
	if !ok {
		return st.Description
	}
	msg, err := playbooks.RenderString(p.GateMessage(), sc)
	if err != nil {
		return p.GateMessage()
	}
	return msg
}
