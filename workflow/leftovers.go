package workflow

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps"
)

// EvLeftoversKilled records processes an earlier, killed cairn left running
// for an unfinished instance, and that resume or rollback killed before
// checking, re-running or undoing it.
const EvLeftoversKilled = "instance.leftovers.killed"

// Reaper kills what a cairn killed outright left running for an instance
// (see steps.Reaper). A tool's grandchild survives its parent's death and
// could land its effect after resume's check looked for it.
type Reaper interface {
	Reap(ctx context.Context, runID, step, item string) ([]steps.Leftover, error)
}

// killLeftovers reaps every instance that was running (or being undone)
// when the run stopped, before anything else happens to the run.
func (e *Engine) killLeftovers(ctx context.Context, r *runCtx) error {
	if e.Reaper == nil {
		return nil
	}
	var unfinished []Instance
	r.mu.Lock()
	for _, in := range r.state.Instances {
		if in.Status == InstRunning || in.Undo == InstRunning {
			unfinished = append(unfinished, *in)
		}
	}
	r.mu.Unlock()
	sort.Slice(unfinished, func(i, j int) bool {
		return Key(unfinished[i].Step, unfinished[i].Item) < Key(unfinished[j].Step, unfinished[j].Item)
	})
	for _, in := range unfinished {
		found, err := e.Reaper.Reap(ctx, r.run.ID, in.Step, in.Item)
		if len(found) > 0 {
			what := make([]string, len(found))
			for i, l := range found {
				what[i] = l.String()
			}
			msg := fmt.Sprintf("killed %d process(es) an earlier cairn left running for this instance: %s", len(found), strings.Join(what, ", "))
			e.Log.Info().Str("instance", Key(in.Step, in.Item)).Msg(msg)
			if jerr := r.append(journal.Event{Type: EvLeftoversKilled, Step: in.Step, Item: in.Item, Evidence: msg}); jerr != nil {
				return jerr
			}
		}
		if err != nil {
			return &StepError{Step: in.Step, Item: in.Item, Err: err}
		}
	}
	return nil
}
