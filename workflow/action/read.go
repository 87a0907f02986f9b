package action

import (
	"context"
	"errors"
	"io"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

// Runs lists the journal's runs, newest first; limit <= 0 means all. A
// journal that does not exist yet has no runs.
func (c *Config) Runs(limit int) ([]journal.RunSummary, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if errors.Is(err, journal.ErrNoJournal) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Runs(limit)
}

// Shown is a run replayed from the journal, for its timeline.
type Shown struct {
	*workflow.State
	// Unverified is why the run's hash chain does not hold, or nil: a run
	// that fails verification is still shown, and marked.
	Unverified error
}

// Show replays a run from the journal.
func (c *Config) Show(runID string) (*Shown, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	run, err := db.Run(runID)
	if err != nil {
		return nil, err
	}
	evs, err := db.Events(runID)
	if err != nil {
		return nil, err
	}
	return &Shown{State: workflow.Replay(run, evs), Unverified: db.Verify(runID)}, nil
}

// Verification is the result of checking one run's hash chain.
type Verification struct {
	RunID string
	Head  journal.Head // the end of the verified chain; zero when Err != nil
	Err   error        // nil when it verifies
}

// Verify checks one run, or every run when runID is "". A run that fails is
// reported in the list; only a journal that cannot be read is an error.
func (c *Config) Verify(runID string) ([]Verification, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ids := []string{runID}
	if runID == "" {
		sums, err := db.Runs(0)
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for _, s := range sums {
			ids = append(ids, s.Run.ID)
		}
	}
	out := make([]Verification, 0, len(ids))
	for _, id := range ids {
		head, err := db.VerifyHead(id)
		if err != nil && !errors.Is(err, journal.ErrTampered) {
			return out, err
		}
		out = append(out, Verification{RunID: id, Head: head, Err: err})
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
	return db.Export(runID, w)
}
