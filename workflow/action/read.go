package action

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// RunFilter picks runs for a listing. Zero values pick everything.
type RunFilter struct {
	Limit    int      // at most this many, newest first; <= 0: all
	Statuses []string // run statuses (workflow.Status), or "damaged"
	Playbook string   // the playbook's name
}

// RunStatuses are the statuses a RunFilter can ask for.
func RunStatuses() []string {
	out := []string{"damaged"}
	for _, s := range workflow.Statuses() {
		out = append(out, string(s))
	}
	return out
}

// Runs lists the journal's runs that pass f, newest first. A journal that
// does not exist yet has no runs.
func (c *Config) Runs(f RunFilter) ([]journal.RunSummary, error) {
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	db, err := c.OpenJournal(context.Background(), true)
	if errors.Is(err, journal.ErrNoJournal) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// A run is worked on by the process that holds the journal's writer
	// lock; with none, none is.
	stopped := !journal.WriterActive(db.Path())
	var out []journal.RunSummary
	err = db.ScanRuns(func(s journal.RunSummary) bool {
		markUnverified(db, &s)
		s.Stopped = stopped
		if f.Picks(s) {
			out = append(out, s)
		}
		return f.Limit <= 0 || len(out) < f.Limit
	})
	return out, err
}

// Normalize splits comma-separated statuses and refuses unknown ones.
func (f *RunFilter) Normalize() error {
	var statuses []string
	for _, s := range f.Statuses {
		statuses = append(statuses, strings.Split(s, ",")...)
	}
	f.Statuses = statuses
	for _, s := range f.Statuses {
		if !slices.Contains(RunStatuses(), s) {
			return inputErrorf("no run status %q; the statuses are %s", s, strings.Join(RunStatuses(), ", "))
		}
	}
	return nil
}

// Picks tells whether s passes the filter, whatever its limit.
func (f RunFilter) Picks(s journal.RunSummary) bool {
	if f.Playbook != "" && s.Run.Playbook != f.Playbook {
		return false
	}
	if len(f.Statuses) == 0 {
		return true
	}
	return slices.Contains(f.Statuses, RunStatus(s))
}

// RunStatus is a listed run's status: "damaged" if it cannot be read whole,
// else its last event's, except that a run journaled as running that no
// process works on any more (killed, or its machine lost) is interrupted:
// resume continues it.
func RunStatus(s journal.RunSummary) string {
	if s.Err != nil {
		return "damaged"
	}
	st := workflow.StatusOf(s.Last)
	if st == workflow.StatusRunning && s.Stopped {
		st = workflow.StatusInterrupted
	}
	return string(st)
}

// Shown is a run replayed from the journal, for its timeline.
type Shown struct {
	*workflow.State
	// Unverified is why the run's hash chain does not hold, or nil: a run
	// that fails verification is still shown, and marked.
	Unverified error
	// Pending are the instances the run has not reached (see
	// workflow.State.Pending); nil if the journaled playbook text no
	// longer loads with this build's kinds.
	Pending []string
	// Stopped: no process works on the run (see journal.RunSummary).
	Stopped bool
}

// Show replays a run from the journal; runID may be a unique prefix or
// @latest.
func (c *Config) Show(runID string) (*Shown, error) {
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
	shown := c.shown(run, evs, db.Verify(runID))
	shown.Stopped = !journal.WriterActive(db.Path())
	return shown, nil
}

func (c *Config) shown(run journal.Run, evs []journal.Event, unverified error) *Shown {
	st := workflow.Replay(run, evs)
	shown := &Shown{State: st, Unverified: unverified}
	if pb, err := playbooks.Load("journal:"+run.ID, st.Run.Source, c.Registry()); err == nil {
		shown.Pending = st.Pending(pb)
	}
	return shown
}

// Verification is the result of checking one run's hash chain.
type Verification struct {
	RunID string
	Head  journal.Head // the end of the verified chain; zero when Err != nil
	Err   error        // nil when it verifies
	// Mirror says how the run compares with its journal mirror in the
	// cluster, when asked (VerifyOptions.Cluster) and that is no failure.
	Mirror string
}

// VerifyOptions names the run to verify ("" for every run) and whether to
// compare each with its journal mirror in the cluster too.
type VerifyOptions struct {
	RunID   string
	Cluster bool
}

// Verify checks one run, or every run. A run that fails is reported in the
// list; only a journal that cannot be read (or, with Cluster, a cluster or
// mirror that cannot be) is an error. With Cluster, each run that verifies
// and is mirrored in the cluster the kubeconfig reaches is compared with
// its mirror: a mirror whose chain does not hold, or a local journal that
// is behind it or differs from it (*HeadMismatchError), fails the run.
func (c *Config) Verify(ctx context.Context, o VerifyOptions) ([]Verification, error) {
	db, err := c.OpenJournal(ctx, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ids := []string{o.RunID}
	if o.RunID != "" {
		if ids[0], err = resolveRun(db, o.RunID); err != nil {
			return nil, err
		}
	} else {
		sums, err := db.Runs(0)
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for _, s := range sums {
			ids = append(ids, s.Run.ID)
		}
	}
	var (
		store  *cluster.MirrorStore
		target map[string]string
	)
	if o.Cluster {
		if c.Cluster == nil {
			return nil, &ClusterError{cluster.ErrNotConfigured}
		}
		if len(ids) == 1 {
			if run, err := db.Run(ids[0]); err == nil {
				c.Cluster.Recorded(run.Target)
			}
		}
		if target, _, err = c.Cluster.Connect(ctx); err != nil {
			return nil, &ClusterError{err}
		}
		if store, err = c.mirrorStore(); err != nil {
			return nil, err
		}
	}
	out := make([]Verification, 0, len(ids))
	for _, id := range ids {
		head, err := db.VerifyHead(id)
		v := Verification{RunID: id, Head: head, Err: err}
		if v.Err != nil && !errors.Is(v.Err, journal.ErrTampered) {
			return out, v.Err
		}
		if v.Err == nil && store != nil {
			v.Mirror, v.Err = c.compareMirror(ctx, db, store, target, id)
			if v.Err != nil && !errors.Is(v.Err, journal.ErrTampered) {
				return out, v.Err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Export writes a run's record and events as JSON lines.
func (c *Config) Export(runID string, w io.Writer) error {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return err
	}
	defer db.Close()
	if runID, err = resolveRun(db, runID); err != nil {
		return err
	}
	return db.Export(runID, w)
}

// markUnverified sets s.Err when the run's hash chain does not hold, so a
// run whose history was altered is listed as damaged, not by the status
// its (perhaps forged) last event claims.
func markUnverified(db *journal.DB, s *journal.RunSummary) {
	if s.Err != nil {
		return
	}
	if err := db.Verify(s.Run.ID); errors.Is(err, journal.ErrTampered) {
		s.Err = err
	}
}
