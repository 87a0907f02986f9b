package action

import (
	"context"
	"errors"

	"github.com/cairn-dev/cairn/journal"

	"github.com/cairn-dev/cairn/workflow"
)

// RunOptions starts a run.
type RunOptions struct {
	Playbook string // a file or a built-in name
	Params   Params
	// NoMirror keeps the run out of its cluster: only the local journal
	// has it. It is journaled, so resume keeps it so.
	NoMirror bool
	// WaitLock waits for a cluster lock another process holds, until it is
	// released or stale, instead of refusing.
	WaitLock bool
}

// Run starts a run of a playbook. It connects to the cluster (when the
// playbook needs one) before anything is journaled, so that a run that
// cannot reach its cluster leaves no record behind.
func (c *Config) Run(ctx context.Context, o RunOptions) (workflow.Outcome, error) {
	pb, origin, err := c.LoadPlaybook(o.Playbook)
	if err != nil {
		return workflow.Outcome{}, err
	}
	for _, w := range pb.Warnings {
		c.Log.Warn().Str("at", w.Pos.String()).Msg(w.Msg)
	}
	vals, err := resolveParams(pb, o.Params)
	if err != nil {
		return workflow.Outcome{}, err
	}
	b, err := c.bind(ctx, pb, nil)
	if err != nil {
		return workflow.Outcome{}, err
	}
	defer b.release()
	db, err := c.OpenJournal(ctx, false)
	if err != nil {
		return workflow.Outcome{}, err
	}
	defer db.Close()
	j, m, err := c.journalFor(db, b, o.NoMirror)
	if err != nil {
		return workflow.Outcome{}, err
	}
	eng := c.engine(j)
	eng.Lock = b.lockFor(o.WaitLock, c.Log)
	out, err := eng.Start(ctx, workflow.StartRequest{Playbook: pb, Origin: origin, Values: vals, Cluster: b.Binding, NoMirror: o.NoMirror})
	return out, flushMirror(ctx, m, err)
}

// ResumeOptions continues a run. Params carry the secrets again, and any
// intended change (refused unless Force).
type ResumeOptions struct {
	RunID  string // "" means the newest unfinished run
	Params Params
	Force  bool
	// FromCluster imports the run from its mirror in the cluster first,
	// when the journal does not have it; "" RunID then means the newest
	// unfinished run in the cluster.
	FromCluster bool
	// WaitLock: as RunOptions.WaitLock.
	WaitLock bool
}

// Resume continues a run where it stopped.
func (c *Config) Resume(ctx context.Context, o ResumeOptions) (workflow.Outcome, error) {
	return c.reopen(ctx, o, false)
}

// Rollback undoes a run's succeeded steps, newest first.
func (c *Config) Rollback(ctx context.Context, o ResumeOptions) (workflow.Outcome, error) {
	return c.reopen(ctx, o, true)
}

func (c *Config) reopen(ctx context.Context, o ResumeOptions, rollback bool) (workflow.Outcome, error) {
	open := c.openExisting
	if o.FromCluster {
		// A machine with no journal yet gets one for the imported run.
		open = func(ctx context.Context) (*journal.DB, error) { return c.OpenJournal(ctx, false) }
	}
	db, err := open(ctx)
	if errors.Is(err, journal.ErrNoJournal) && o.RunID == "" {
		return workflow.Outcome{}, &workflow.NotResumableError{}
	}
	if err != nil {
		return workflow.Outcome{}, err
	}
	defer db.Close()
	if o.FromCluster {
		if o.RunID, err = c.importFromCluster(ctx, db, o.RunID); err != nil {
			return workflow.Outcome{RunID: o.RunID}, err
		}
	}
	if o.RunID, err = resumedRun(db, o.RunID); err != nil {
		var nr *workflow.NotResumableError
		if errors.As(err, &nr) && !rollback {
			c.catchUpNewest(ctx, db)
		}
		return workflow.Outcome{}, err
	}
	run, pb, err := c.trustedRun(db, o.RunID)
	if err != nil {
		return workflow.Outcome{RunID: o.RunID}, err
	}
	st, err := c.engine(db).Load(o.RunID)
	if err != nil {
		return workflow.Outcome{RunID: o.RunID}, err
	}
	if c.Cluster != nil {
		c.Cluster.Recorded(run.Target)
	}
	b, err := c.bind(ctx, pb, run.Target)
	if err != nil {
		return workflow.Outcome{RunID: o.RunID}, err
	}
	defer b.release()
	j, m, err := c.journalFor(db, b, st.NoMirror)
	if err != nil {
		return workflow.Outcome{RunID: o.RunID}, err
	}
	if m != nil {
		// Before anything is done: a run that went on elsewhere is refused.
		if err := m.Attach(ctx, o.RunID); err != nil {
			return workflow.Outcome{RunID: o.RunID}, err
		}
	}
	eng := c.engine(j)
	eng.Lock = b.lockFor(o.WaitLock, c.Log)
	req := workflow.ResumeRequest{RunID: o.RunID, Playbook: pb, Set: o.Params.Set, File: o.Params.File, Force: o.Force, Cluster: b.Binding}
	var out workflow.Outcome
	if rollback {
		out, err = eng.Rollback(ctx, req)
	} else {
		c.Log.Info().Str("run", o.RunID).Str("playbook", run.Playbook).Msg("resuming")
		out, err = eng.Resume(ctx, req)
	}
	return out, flushMirror(ctx, m, err)
}

// RollbackPlan tells what rollback would undo and pass over, newest first,
// touching neither the journal's contents nor the cluster.
func (c *Config) RollbackPlan(o ResumeOptions) ([]workflow.PlanEntry, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if o.RunID, err = resolveRun(db, o.RunID); err != nil {
		return nil, err
	}
	run, pb, err := c.trustedRun(db, o.RunID)
	if err != nil {
		return nil, err
	}
	vals, err := workflow.ResumeValues(pb, run, o.Params.Set, o.Params.File)
	if err != nil {
		return nil, err
	}
	return c.engine(db).RollbackPlan(o.RunID, pb, vals)
}

// ResumePlan tells what resume would skip, re-check, re-run or wait on,
// touching neither the journal's contents nor the cluster.
func (c *Config) ResumePlan(o ResumeOptions) (string, ResumePlanned, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if errors.Is(err, journal.ErrNoJournal) && o.RunID == "" {
		return "", ResumePlanned{}, &workflow.NotResumableError{}
	}
	if err != nil {
		return "", ResumePlanned{}, err
	}
	defer db.Close()
	if o.RunID, err = resumedRun(db, o.RunID); err != nil {
		return "", ResumePlanned{}, err
	}
	_, pb, err := c.trustedRun(db, o.RunID)
	if err != nil {
		return o.RunID, ResumePlanned{}, err
	}
	entries, forced, err := c.engine(db).ResumePlan(workflow.ResumeRequest{RunID: o.RunID, Playbook: pb, Set: o.Params.Set, File: o.Params.File, Force: o.Force})
	return o.RunID, ResumePlanned{Entries: entries, Forced: forced}, err
}

// ResumePlanned is what resume would do, and what its --force overrides.
type ResumePlanned struct {
	Entries []workflow.PlanEntry
	Forced  []string
}
