package journal

import (
	"bytes"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// DeleteRuns removes, in one Update, each run for which remove returns
// true: its record, events, head and migration notes, and the playbook
// texts no remaining run refers to. remove sees each run's summary as it
// is inside that Update, so a run that went on since the caller last
// looked is judged as it is now; a damaged run (Err set) is offered too,
// and it is up to remove to keep it. It returns the runs removed, newest
// first.
func (db *DB) DeleteRuns(remove func(RunSummary) bool) ([]RunSummary, error) {
	var removed []RunSummary
	err := db.update(func(tx *bolt.Tx) error {
		removed = removed[:0]
		runs, events := tx.Bucket(bucketRuns), tx.Bucket(bucketEvents)
		if runs == nil {
			return nil
		}
		var doomed [][]byte
		keep := map[string]bool{} // playbook texts the remaining runs refer to
		c := runs.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			s := summary(tx, k, v)
			if remove(s) {
				removed = append(removed, s)
				doomed = append(doomed, bytes.Clone(k))
				continue
			}
			if e, err := decodeEntry(v); err == nil {
				if _, sum, err := decodeRecord(e); err == nil && sum != "" {
					keep[sum] = true
				}
			}
		}
		for _, k := range doomed {
			e, err := decodeEntry(runs.Get(k))
			if err != nil {
				return fmt.Errorf("journal %s: remove run %s: %w", db.path, k, err)
			}
			if _, sum, err := decodeRecord(e); err == nil && sum != "" && !keep[sum] {
				if sb := tx.Bucket(bucketSources); sb != nil {
					if key, err := hex.DecodeString(sum); err == nil {
						if err := sb.Delete(key); err != nil {
							return err
						}
					}
				}
				keep[sum] = true // deleted once
			}
			if events != nil {
				prefix := runNoKey(e.runNo)
				ec := events.Cursor()
				for ek, _ := ec.Seek(prefix); ek != nil && bytes.HasPrefix(ek, prefix); ek, _ = ec.Seek(prefix) {
					if err := events.Delete(ek); err != nil {
						return err
					}
				}
			}
			if nb := tx.Bucket(bucketNotes); nb != nil {
				if err := nb.Delete(runNoKey(e.runNo)); err != nil {
					return err
				}
			}
			if err := runs.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}
