package action

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
)

// Report is what an audit report shows of a run, gathered from the journal
// alone: it contacts no cluster and needs no secret.
type Report struct {
	// State is the run replayed from its events, as Show has it: the
	// record (parameters redacted as journaled), every event, instance and
	// frozen item list.
	*workflow.State
	// Head is the end of the verified hash chain, as `journal verify`
	// prints it; zero when Unverified is set.
	Head journal.Head
	// Unverified is why the run's hash chain does not hold, or nil. The
	// report is still made, and says so.
	Unverified error
	// Playbook is the run's playbook, loaded from the text the journal
	// keeps (the exact text it ran, forced changes included); nil when it
	// cannot be loaded, with PlaybookErr saying why.
	Playbook    *playbooks.Playbook
	PlaybookErr error
	// Undo is what rollback would undo, newest first, as `rollback --plan`
	// lists it: each entry's Params are the undo's rendered parameters
	// (what it would restore), secrets redacted.
	Undo []workflow.PlanEntry
	// NoReturn is set when the run has passed a point of no return, so
	// rollback would refuse; Undo is still worked out, to show.
	NoReturn *workflow.PastNoReturnError
	// UndoErr is why Undo could not be worked out, or nil.
	UndoErr error
}

// Report gathers a run's audit report; runID is read as resolveRun reads
// it (an id, a unique prefix, @latest). A run that fails verification is
// still reported, marked, without the rollback section: nothing is worked
// out from a journal that does not hold.
func (c *Config) Report(runID string) (*Report, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if runID, err = resolveRun(db, runID); err != nil {
		return nil, err
	}
	run, err := db.Run(runID)
	if err != nil {
		return nil, err
	}
	evs, err := db.Events(runID)
	if err != nil {
		return nil, err
	}
	rep := &Report{State: workflow.Replay(run, evs)}
	rep.Head, rep.Unverified = db.VerifyHead(runID)
	if rep.Unverified != nil && !errors.Is(rep.Unverified, journal.ErrTampered) {
		return nil, rep.Unverified
	}
	rep.Playbook, rep.PlaybookErr = c.journaledPlaybook(rep.State.Run)
	switch {
	case rep.Unverified != nil:
		rep.UndoErr = errors.New("the run's journal does not verify, so nothing is worked out from it")
	case rep.PlaybookErr != nil:
		rep.UndoErr = fmt.Errorf("the run's playbook cannot be loaded: %w", rep.PlaybookErr)
	default:
		rep.Undo, rep.NoReturn, rep.UndoErr = c.undoPlan(db, rep.State.Run, rep.Playbook)
	}
	return rep, nil
}

// journaledPlaybook loads the playbook text the journal keeps for run (as
// a forced resume left it), falling back to its origin for a run recorded
// without its text.
func (c *Config) journaledPlaybook(run journal.Run) (*playbooks.Playbook, error) {
	if len(run.Source) == 0 {
		return c.reloadPlaybook(run)
	}
	return playbooks.Load("journal:"+run.ID, run.Source, c.Registry())
}

// undoPlan is `rollback --plan` without the secrets: a secret the journal
// does not keep renders as <redacted>, which is what the report shows of it
// anyway.
func (c *Config) undoPlan(db *journal.DB, run journal.Run, pb *playbooks.Playbook) ([]workflow.PlanEntry, *workflow.PastNoReturnError, error) {
	set := map[string]string{}
	for _, p := range pb.Params {
		if p.Secret && run.Params[p.Name] == workflow.Redacted {
			set[p.Name] = workflow.Redacted
		}
	}
	vals, err := workflow.ResumeValues(pb, run, set, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("the run's parameters: %w", err)
	}
	return c.engine(db).UndoPlan(run.ID, pb, vals)
}
