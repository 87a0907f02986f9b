package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// mirrorSync is what must be in the cluster before its side effect
// begins: an undo's started event, with its token. A step's started event
// is written through AppendContext, which always writes to the cluster,
// unless the step's kind has no side effect (the engine decides).
func mirrorSync(e journal.Event) bool {
	return e.Type == workflow.EvUndoStarted
}

// flushTimeout bounds the last write of an invocation's events to the
// mirror, which goes on after an interrupt.
const flushTimeout = 30 * time.Second

// mirrorStore is the journal mirror in the cluster, in the lock namespace.
func (c *Config) mirrorStore() (*cluster.MirrorStore, error) {
	if c.Cluster == nil {
		return nil, &ClusterError{cluster.ErrNotConfigured}
	}
	cl, err := c.Cluster.Clients()
	if err != nil {
		return nil, &ClusterError{err}
	}
	return &cluster.MirrorStore{Client: cl.Kube, Namespace: c.Cluster.LockNamespace, Timeout: c.Cluster.Timeout}, nil
}

// journalFor is the journal an invocation writes through: the local one,
// mirrored into the cluster when the run is bound to one and not started
// with --no-mirror. flushMirror writes what is still queued when the
// invocation ends, whatever ended it.
func (c *Config) journalFor(db *journal.DB, b *binding, noMirror bool) (workflow.Journal, *cluster.Mirror, error) {
	if noMirror || len(b.Target) == 0 {
		return db, nil, nil
	}
	store, err := c.mirrorStore()
	if err != nil {
		return nil, nil, err
	}
	m := &cluster.Mirror{Journal: db, Store: store, Sync: mirrorSync,
		Writer: fmt.Sprintf("%s@%s pid %d", c.User, c.Host, os.Getpid())}
	return m, m, nil
}

// flushMirror writes what the invocation left queued, also after an
// interrupt, and joins a failure to the invocation's error.
func flushMirror(ctx context.Context, m *cluster.Mirror, err error) error {
	if m == nil {
		return err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if ferr := m.Flush(fctx); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// catchUpTimeout bounds catchUpNewest, which a resume with nothing to do
// should not be held up by.
const catchUpTimeout = 10 * time.Second

// catchUpNewest writes to its mirror what the journal's newest run, if it
// finished, left unwritten there: cairn stopped between the run's last
// local commit and the cluster write. A plain resume finds nothing to
// continue, but without this the cluster would show the run unfinished to
// everyone else, and a resume --from-cluster elsewhere would take it up.
// Best effort: a failure is a warning naming the command that finishes it.
func (c *Config) catchUpNewest(ctx context.Context, db *journal.DB) {
	var newest journal.RunSummary
	err := db.ScanRuns(func(s journal.RunSummary) bool { newest = s; return false })
	if err != nil || newest.Err != nil || len(newest.Run.Target) == 0 || !workflow.StatusOf(newest.Last).Finished() {
		return
	}
	id := newest.Run.ID
	run, _, err := c.trustedRun(db, id)
	if err != nil {
		return
	}
	if st, err := c.engine(db).Load(id); err != nil || st.NoMirror {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	m, err := c.approvalMirror(ctx, db, run)
	// A run the cluster has never seen (it predates the mirror) stays so.
	if err == nil && m.InCluster(id) && m.Pending(id) > 0 {
		n := m.Pending(id)
		if err = m.Flush(ctx); err == nil {
			c.Log.Info().Str("run", id).Int("events", n).Msg("the run had finished, but its mirror in the cluster was behind (cairn stopped before writing it); written")
		}
	}
	if err != nil && !errors.Is(err, cluster.ErrNotConfigured) {
		c.Log.Warn().Str("run", id).Err(err).Msg(fmt.Sprintf("could not check the run's mirror in the cluster; `cairn resume %s` writes what it lacks", id))
	}
}

// importFromCluster brings a run recorded in the cluster into the local
// journal: its mirror is read, its chain checked (a broken one is refused:
// errors.Is journal.ErrTampered) and imported. A run the journal already
// has is left as it is; resume then checks it against the mirror. With no
// runID, the newest unfinished run in the cluster is taken.
func (c *Config) importFromCluster(ctx context.Context, db *journal.DB, runID string) (string, error) {
	store, err := c.mirrorStore()
	if err != nil {
		return runID, err
	}
	if runID == "" {
		runID, err = newestUnfinishedIn(ctx, store)
	} else {
		runID, err = resolveMirrored(ctx, store, runID)
	}
	if err != nil {
		return "", err
	}
	if _, err := db.Run(runID); err == nil {
		c.Log.Info().Str("run", runID).Msg("the run is in this journal already; resuming from it, checked against the cluster's mirror")
		return runID, nil
	} else if !errors.Is(err, journal.ErrRunNotFound) {
		return runID, err
	}
	chained, err := store.Read(ctx, runID)
	if err != nil {
		return runID, err
	}
	if err := chained.Check("cluster mirror", runID); err != nil {
		return runID, &UntrustedError{RunID: runID, Err: err}
	}
	if err := db.ImportChained(chained); err != nil {
		return runID, &UntrustedError{RunID: runID, Err: err}
	}
	c.Log.Info().Str("run", runID).Uint64("events", chained.Head.Seq).Str("journal", db.Path()).Msg("imported the run from the cluster's journal mirror")
	return runID, nil
}

func newestUnfinishedIn(ctx context.Context, store *cluster.MirrorStore) (string, error) {
	runs, err := store.List(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range runs {
		st := workflow.StatusOf(r.Last)
		if r.Err == nil && !st.Finished() && st != workflow.StatusRollingBack && st != workflow.StatusRollbackFailed {
			return r.Run.ID, nil
		}
	}
	return "", &workflow.NotResumableError{}
}

// RunsInCluster lists the runs mirrored in the cluster, newest first. A
// run is worked on by the holder of the cluster lock; a mirrored run that
// does not hold it, or whose lease went stale, is Stopped. If the lock
// cannot be read, no run is marked.
func (c *Config) RunsInCluster(ctx context.Context) ([]cluster.MirroredRun, error) {
	store, err := c.mirrorStore()
	if err != nil {
		return nil, err
	}
	runs, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	marked, err := c.markStopped(ctx, runs)
	if err != nil {
		c.Log.Debug().Err(err).Msg("reading the cluster lock, to tell which mirrored run is worked on")
		return runs, nil
	}
	return marked, nil
}

// markStopped marks the runs that do not hold the cluster lock, or whose
// lease went stale.
func (c *Config) markStopped(ctx context.Context, runs []cluster.MirroredRun) ([]cluster.MirroredRun, error) {
	cl, err := c.Cluster.Clients()
	if err != nil {
		return nil, err
	}
	lock := &cluster.Lock{Client: cl.Kube, Namespace: c.Cluster.LockNamespace, Timeout: c.Cluster.Timeout}
	holder, live, err := lock.Live(ctx)
	if err != nil {
		return nil, err
	}
	for i := range runs {
		runs[i].Stopped = !live || holder.RunID != runs[i].Run.ID
	}
	return runs, nil
}

// ShowInCluster replays a run from its mirror in the cluster; a mirror
// whose chain does not hold is shown, and marked.
func (c *Config) ShowInCluster(ctx context.Context, runID string) (*Shown, error) {
	store, err := c.mirrorStore()
	if err != nil {
		return nil, err
	}
	if runID, err = resolveMirrored(ctx, store, runID); err != nil {
		return nil, err
	}
	chained, err := store.Read(ctx, runID)
	if err != nil {
		return nil, err
	}
	run, err := chained.Run()
	if err != nil {
		return nil, err
	}
	shown := c.shown(run, chained.Events, chained.Check("cluster mirror", runID))
	if runs, err := c.markStopped(ctx, []cluster.MirroredRun{{RunSummary: journal.RunSummary{Run: run}}}); err == nil {
		shown.Stopped = runs[0].Stopped
	}
	return shown, nil
}

// ExportFromCluster writes a run's mirror as `journal export` writes a
// run: JSON lines that check offline. The chain is not checked here.
func (c *Config) ExportFromCluster(ctx context.Context, runID string, w io.Writer) error {
	store, err := c.mirrorStore()
	if err != nil {
		return err
	}
	if runID, err = resolveMirrored(ctx, store, runID); err != nil {
		return err
	}
	chained, err := store.Read(ctx, runID)
	if err != nil {
		return err
	}
	return chained.WriteExport(w)
}

// resolveMirrored reads a run reference (an id, a unique prefix, @latest)
// against the runs mirrored in the cluster.
func resolveMirrored(ctx context.Context, store *cluster.MirrorStore, ref string) (string, error) {
	runs, err := store.List(ctx)
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(runs))
	for _, r := range runs {
		ids = append(ids, r.Run.ID)
	}
	return matchRef(ref, "mirror in the cluster", ids)
}
