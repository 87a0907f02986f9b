package action

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// PruneOptions picks the runs to remove: finished (succeeded or rolled
// back) more than OlderThan ago, from the journal and, with Cluster, from
// the journal mirror in the cluster.
type PruneOptions struct {
	OlderThan time.Duration
	Cluster   bool
	DryRun    bool // say what would be removed, remove nothing
}

// Pruned is what Prune removed (or, dry, would remove).
type Pruned struct {
	Local   []journal.RunSummary
	Cluster []cluster.MirroredRun
}

// prunable: a run whose record and last event read, that has finished
// (never one that may still go on: running, interrupted, failed, waiting,
// rolling back, rollback failed), and whose last event is older than the
// cutoff.
func prunable(s journal.RunSummary, cutoff time.Time) bool {
	return s.Err == nil && workflow.StatusOf(s.Last).Finished() && s.Last.Time.Before(cutoff)
}

// Prune removes finished runs older than o.OlderThan: locally in one
// journal Update, which judges each run as it is then; in the cluster, run
// by run.
func (c *Config) Prune(ctx context.Context, o PruneOptions) (Pruned, error) {
	var out Pruned
	cutoff := c.now().Add(-o.OlderThan)
	open := c.openExisting
	if o.DryRun {
		open = func(ctx context.Context) (*journal.DB, error) { return c.OpenJournal(ctx, true) }
	}
	db, err := open(ctx)
	switch {
	case errors.Is(err, journal.ErrNoJournal):
	case err != nil:
		return out, err
	default:
		defer db.Close()
		if o.DryRun {
			sums, err := db.Runs(0)
			if err != nil {
				return out, err
			}
			for _, s := range sums {
				if prunable(s, cutoff) {
					out.Local = append(out.Local, s)
				}
			}
		} else if out.Local, err = db.DeleteRuns(func(s journal.RunSummary) bool { return prunable(s, cutoff) }); err != nil {
			return out, err
		}
	}
	if !o.Cluster {
		return out, nil
	}
	store, err := c.mirrorStore()
	if err != nil {
		return out, err
	}
	runs, err := store.List(ctx)
	if err != nil {
		return out, err
	}
	for _, r := range runs {
		if !prunable(r.RunSummary, cutoff) {
			continue
		}
		if !o.DryRun {
			if err := store.Delete(ctx, r.Run.ID); err != nil {
				return out, err
			}
		}
		out.Cluster = append(out.Cluster, r)
	}
	return out, nil
}
