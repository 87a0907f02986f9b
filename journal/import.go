package journal

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ImportRun writes a run and its events in one Update, chained exactly as if
// each event had been appended in order. It restores runs kept elsewhere and
// seeds large journals for benchmarks without one fsync per event.
func (db *DB) ImportRun(r Run, events []Event) error {
	if r.ID == "" {
		return errors.New("import run: empty run id")
	}
	rec, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("import run %s: %w", r.ID, err)
	}
	norm := make([]Event, len(events))
	for i, e := range events {
		if norm[i], err = prepare(e); err != nil {
			return fmt.Errorf("import run %s: event %d: %w", r.ID, i+1, err)
		}
	}
	err = db.update(func(tx *bolt.Tx) error {
		if err := createRunTx(tx, r, rec); err != nil {
			return err
		}
		for _, e := range norm {
			if _, err := appendTx(tx, r.ID, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal %s: import run %s: %w", db.path, r.ID, err)
	}
	return nil
}
