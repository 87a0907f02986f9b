package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
)

// runCtx is one invocation's view of a run: its playbook, values and the
// replayed state, kept current as events are appended.
type runCtx struct {
	e        *Engine
	run      journal.Run
	pb       *playbooks.Playbook
	vals     playbooks.Values
	redactor *playbooks.Redactor
	cluster  Binding
	forced   []string // differences --force overrode, not yet journaled

	mu    sync.Mutex
	state *State
}

func (e *Engine) newRun(run journal.Run, pb *playbooks.Playbook, vals playbooks.Values, st *State, cl Binding) *runCtx {
	return &runCtx{e: e, run: run, pb: pb, vals: vals, redactor: playbooks.NewRedactor(vals.Secrets(pb)), state: st, cluster: cl}
}

// append redacts secrets from the event's free text (evidence, error,
// outputs), journals it, and folds it into the in-memory state, so that
// state never holds what the journal does not. Data is structure (frozen
// items, forced parameters) that resume acts on: it is never rewritten, and
// what goes into it is checked to hold no secret instead.
func (r *runCtx) append(ev journal.Event) error {
	return r.appendCtx(nil, ev)
}

// appendCtx is append whose wait for a journal that may wait (see
// ContextJournal) ctx bounds; nil means the journal's own bound.
func (r *runCtx) appendCtx(ctx context.Context, ev journal.Event) error {
	ev.Evidence = r.redactor.Redact(ev.Evidence)
	ev.Error = r.redactor.Redact(ev.Error)
	if len(ev.Outputs) > 0 {
		outs := make(map[string]string, len(ev.Outputs))
		for k, v := range ev.Outputs {
			outs[k] = r.redactor.Redact(v)
		}
		ev.Outputs = outs
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		stored journal.Event
		err    error
	)
	if cj, ok := r.e.Journal.(ContextJournal); ok && ctx != nil {
		stored, err = cj.AppendContext(ctx, r.run.ID, ev)
	} else {
		stored, err = r.e.Journal.Append(r.run.ID, ev)
	}
	if err != nil {
		return fmt.Errorf("journal %s for %s: %w", ev.Type, Key(ev.Step, ev.Item), err)
	}
	r.state.Events = append(r.state.Events, stored)
	r.state.apply(stored)
	r.state.Status = StatusOf(stored)
	if r.e.OnUpdate != nil {
		r.e.OnUpdate(r.state.update(stored))
	}
	return nil
}

// snapshot returns a copy of an instance's state.
func (r *runCtx) snapshot(step, item string) Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.state.Instance(step, item).clone()
}

func (r *runCtx) frozenItems(step string) ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	items, ok := r.state.Items[step]
	return items, ok
}

func (r *runCtx) step(id string) *playbooks.Step {
	for _, s := range r.pb.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// scope is what ${...} references see for one instance.
func (r *runCtx) scope(item string, hasItem bool) *playbooks.Scope {
	return &playbooks.Scope{
		Params:  r.vals,
		Item:    item,
		HasItem: hasItem,
		Output:  func(step, name string) (string, error) { return r.output(step, item, name) },
		Cluster: r.cluster.refs(),
	}
}

// output resolves ${steps.ID.NAME}. A foreach step's outputs are per item, so
// a reference from an instance over the same item gets that item's outputs.
func (r *runCtx) output(stepID, item, name string) (string, error) {
	st := r.step(stepID)
	if st == nil {
		return "", fmt.Errorf("no step %q", stepID)
	}
	key := stepID
	if st.Foreach != nil {
		items, _ := r.frozenItems(st.ItemsID())
		switch {
		case slices.Contains(items, item):
			key = Key(stepID, item)
		case len(items) == 1:
			key = Key(stepID, items[0])
		default:
			return "", fmt.Errorf("step %s ran for %d items (%s); its outputs can only be used by a step over the same items", stepID, len(items), strings.Join(items, ", "))
		}
	}
	r.mu.Lock()
	in, ok := r.state.Instances[key]
	r.mu.Unlock()
	if !ok || in.Status != InstSucceeded {
		status := InstPending
		if ok {
			status = in.Status
		}
		return "", fmt.Errorf("step %s has no outputs: it is %s", key, status)
	}
	v, ok := in.Outputs[name]
	if !ok {
		return "", fmt.Errorf("step %s did not publish output %q", key, name)
	}
	return v, nil
}

// redactErr hides secrets in what err says, for the error line, and keeps
// err's chain for errors.Is and errors.As.
func (r *runCtx) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := r.redactor.Redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
