package journal

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RunsWithPrefix returns the ids of up to max runs whose id starts with
// prefix, oldest first: what an operator's abbreviated run id may mean.
// Run ids sort by their start time, so the matches are adjacent keys.
func (db *DB) RunsWithPrefix(prefix string, max int) ([]string, error) {
	var out []string
	err := db.view(func(tx *bolt.Tx, schema int) error {
		runs := tx.Bucket(bucketRuns)
		if runs == nil {
			return nil
		}
		p := []byte(prefix)
		c := runs.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(out) < max; k, v = c.Next() {
			if (schema == 1) != (v == nil) {
				continue // v1 runs are buckets, v2 runs are values
			}
			out = append(out, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal %s: find runs starting %q: %w", db.path, prefix, err)
	}
	return out, nil
}
