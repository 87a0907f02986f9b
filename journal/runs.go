package journal

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Run is the record written once when a run starts. Its stored bytes are
// the root of the run's hash chain.
type Run struct {
	ID           string            `json:"id"`
	Playbook     string            `json:"playbook"`         // name
	PlaybookFile string            `json:"playbookFile"`     // path or "builtin:NAME"
	Digest       string            `json:"digest"`           // sha256 hex of the playbook text
	Source       []byte            `json:"source,omitempty"` // the playbook text, so resume/audit use the exact text
	Params       map[string]string `json:"params"`           // redacted by the caller
	User         string            `json:"user"`
	Host         string            `json:"host"`
	Started      time.Time         `json:"started"`
	Target       map[string]string `json:"target,omitempty"` // free-form cluster identity
	CairnVersion string            `json:"cairnVersion,omitempty"`
}

// RunSummary is what listing needs: the record and the last event, without
// decoding the events in between.
type RunSummary struct {
	Run    Run
	Last   Event  // zero if no events
	Events uint64 // count
}

// head anchors a run's chain: the seq and hash of its last event (seq 0 and
// the run record's hash before any). It is rewritten in the same Update as
// each Append, so a removed last event no longer matches it.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// runBucket is nil when the run, or the whole runs bucket of a journal
// that was never initialised, is missing.
func runBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	runs := tx.Bucket(bucketRuns)
	if runs == nil {
		return nil
	}
	return runs.Bucket([]byte(id))
}

// CreateRun records a new run in one Update.
func (db *DB) CreateRun(r Run) error {
	if r.ID == "" {
		return errors.New("create run: empty run id")
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	err = db.update(func(tx *bolt.Tx) error { return createRunTx(tx, r.ID, rec) })
	if err != nil {
		return fmt.Errorf("journal %s: create run %s: %w", db.path, r.ID, err)
	}
	return nil
}

func createRunTx(tx *bolt.Tx, id string, rec []byte) error {
	runs, err := tx.CreateBucketIfNotExists(bucketRuns)
	if err != nil {
		return err
	}
	key := []byte(id)
	if runs.Bucket(key) != nil || runs.Get(key) != nil {
		return ErrRunExists
	}
	rb, err := runs.CreateBucket(key)
	if err != nil {
		return err
	}
	if _, err := rb.CreateBucket(bucketEvents); err != nil {
		return err
	}
	if err := rb.Put(keyRun, rec); err != nil {
		return err
	}
	h, err := json.Marshal(head{Seq: 0, Hash: hashHex(rec)})
	if err != nil {
		return err
	}
	return rb.Put(keyHead, h)
}

// Run returns the run record.
func (db *DB) Run(id string) (Run, error) {
	var r Run
	err := db.view(func(tx *bolt.Tx) error {
		rb := runBucket(tx, id)
		if rb == nil {
			return ErrRunNotFound
		}
		return decodeRun(rb, &r)
	})
	if err != nil {
		return Run{}, fmt.Errorf("journal %s: run %s: %w", db.path, id, err)
	}
	return r, nil
}

func decodeRun(rb *bolt.Bucket, r *Run) error {
	rec := rb.Get(keyRun)
	if rec == nil {
		return fmt.Errorf("run record missing: %w", ErrTampered)
	}
	if err := json.Unmarshal(rec, r); err != nil {
		return fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
	}
	return nil
}

// Runs lists runs newest first; limit <= 0 means all. Only each run's
// record and last event are decoded, so listing stays cheap with many runs.
func (db *DB) Runs(limit int) ([]RunSummary, error) {
	var out []RunSummary
	batch := scanBatch
	if limit > 0 && limit < batch {
		batch = limit
	}
	err := db.scan(batch, func(s RunSummary) bool {
		out = append(out, s)
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

// ScanRuns calls fn for each run, newest first, until fn returns false.
// fn runs outside any transaction, so it may call other DB methods,
// including writes.
func (db *DB) ScanRuns(fn func(RunSummary) bool) error {
	return db.scan(scanBatch, fn)
}

// scanBatch bounds how long a read transaction stays open and how much is
// decoded ahead of an early stop.
const scanBatch = 64

func (db *DB) scan(batch int, fn func(RunSummary) bool) error {
	var before []byte
	for {
		sums, last, err := db.runsBefore(before, batch)
		if err != nil {
			return err
		}
		for _, s := range sums {
			if !fn(s) {
				return nil
			}
		}
		if last == nil {
			return nil
		}
		before = last
	}
}

// runsBefore returns up to n runs whose keys sort before 'before' (all
// runs when it is nil), newest first, and the key to continue from (nil
// once the oldest run has been returned).
func (db *DB) runsBefore(before []byte, n int) ([]RunSummary, []byte, error) {
	var (
		out  []RunSummary
		next []byte
	)
	err := db.view(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		if runs == nil {
			return nil
		}
		c := runs.Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(before); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var lastKey []byte
		for ; k != nil; k, v = c.Prev() {
			if v != nil {
				continue // not a run bucket; nothing of ours writes one
			}
			if len(out) == n {
				// More remain: the next call resumes below the last key
				// returned, which stays correct if runs are added meanwhile.
				next = append([]byte(nil), lastKey...)
				return nil
			}
			s, err := summarize(runs.Bucket(k))
			if err != nil {
				return fmt.Errorf("run %s: %w", k, err)
			}
			out = append(out, s)
			lastKey = k
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: list runs: %w", db.path, err)
	}
	return out, next, nil
}

func summarize(rb *bolt.Bucket) (RunSummary, error) {
	var s RunSummary
	if err := decodeRun(rb, &s.Run); err != nil {
		return s, err
	}
	eb := rb.Bucket(bucketEvents)
	if eb == nil {
		return s, nil
	}
	k, v := eb.Cursor().Last()
	if k == nil {
		return s, nil
	}
	if err := decodeEvent(k, v, &s.Last); err != nil {
		return s, err
	}
	s.Events = binary.BigEndian.Uint64(k)
	return s, nil
}
