package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
// decoding the events in between. Run.Source is not loaded (Run(id) has it).
//
// Err is set when the run is damaged: its record or last event cannot be
// read, or its record names another id than the key it is stored under
// (a copied run). Run.ID is then always the key, so Verify(Run.ID)
// examines the right entry, and whatever could be read is filled in.
type RunSummary struct {
	Run    Run
	Last   Event  // zero if no events
	Events uint64 // count
	Err    error  // errors.Is ErrTampered
	// Stopped says that no process works on the run any more, which the
	// journal cannot tell by itself: a caller that can (the journal's
	// writer lock is free, the cluster lock is not the run's) sets it.
	Stopped bool
}

// head anchors a run's chain: the seq and hash of its last event (seq 0 and
// the run record's hash before any). It is rewritten in the same Update as
// each Append, so a removed last event no longer matches it.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func idMismatch(id string) error {
	return &kindError{fmt.Sprintf("run record names id %q: copied or altered", id), ErrTampered}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// CreateRun records a new run in one Update.
func (db *DB) CreateRun(r Run) error {
	if r.ID == "" {
		return errors.New("create run: empty run id")
	}
	rec, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("journal %s: create run %s: %w", db.path, r.ID, err)
	}
	err = db.update(func(tx *bolt.Tx) error { return createRunTx(tx, r, rec) })
	if err != nil {
		return fmt.Errorf("journal %s: create run %s: %w", db.path, r.ID, err)
	}
	return nil
}

// newRecord is a run record ready to store: compact, the sha256 of its
// JSON (the root of the run's chain) and of its playbook text.
type newRecord struct {
	stored, root, sourceSum []byte
}

func encodeRecord(r Run) (newRecord, error) {
	var out newRecord
	if len(r.Source) > 0 {
		if len(r.Source) > MaxRecordSize {
			return out, tooLarge("playbook source", len(r.Source))
		}
		s := sha256.Sum256(r.Source)
		out.sourceSum = s[:]
	}
	rec := recordOf(r, hex.EncodeToString(out.sourceSum))
	js, err := json.Marshal(rec)
	if err != nil {
		return out, err
	}
	if len(js) > MaxRecordSize {
		return out, tooLarge("run record", len(js))
	}
	root := sha256.Sum256(js)
	out.root = root[:]
	if out.stored, err = encodeRecordBin(rec); err != nil {
		return out, err
	}
	// Verify and Run rebuild the record from the stored bytes, so they must
	// give back exactly this JSON.
	back, err := decodeRecordBin(out.stored)
	if again, _ := json.Marshal(back); err != nil || !bytes.Equal(again, js) {
		return out, fmt.Errorf("run record does not encode deterministically")
	}
	return out, nil
}

func createRunTx(tx *bolt.Tx, r Run, rec newRecord) error {
	runs, err := tx.CreateBucketIfNotExists(bucketRuns)
	if err != nil {
		return err
	}
	events, err := tx.CreateBucketIfNotExists(bucketEvents)
	if err != nil {
		return err
	}
	key := []byte(r.ID)
	if runs.Get(key) != nil {
		return ErrRunExists
	}
	if sum := rec.sourceSum; sum != nil {
		sources, err := tx.CreateBucketIfNotExists(bucketSources)
		if err != nil {
			return err
		}
		// Runs of one playbook share its text; a stored copy that differs
		// was damaged, and blessing it would lose the real text.
		if old := sources.Get(sum); old == nil {
			if err := sources.Put(sum, r.Source); err != nil {
				return err
			}
		} else if !bytes.Equal(old, r.Source) {
			return fmt.Errorf("the stored copy of this playbook text (%.12x) is damaged: %w", sum, ErrTampered)
		}
	}
	n, err := runs.NextSequence()
	if err != nil {
		return err
	}
	if n > math.MaxUint32 {
		return errors.New("journal holds 4294967295 runs, the most it can")
	}
	runNo := uint32(n)
	runs.FillPercent, events.FillPercent = fillPercent, fillPercent
	if err := runs.Put(key, encodeEntry(recordV2, runNo, rec.stored)); err != nil {
		return err
	}
	return events.Put(eventKey(runNo, headSeq), encodeHead(0, rec.root))
}

// fillPercent packs pages full: runs and events are mostly added at the
// right edge of the tree, where bbolt's default of half-full pages would
// double the file.
const fillPercent = 1.0

// Run returns the run record, with its playbook text.
func (db *DB) Run(id string) (Run, error) {
	var r Run
	err := db.view(func(tx *bolt.Tx, schema int) error {
		var err error
		if schema == 1 {
			r, err = v1RunTx(tx, id)
			return err
		}
		r, err = runTx(tx, id)
		return err
	})
	if err != nil {
		return Run{}, db.runError("", id, err)
	}
	return r, nil
}

func runTx(tx *bolt.Tx, id string) (Run, error) {
	e, err := runEntry(tx, id)
	if err != nil {
		return Run{}, err
	}
	r, sum, err := decodeRecord(e)
	if err != nil || sum == "" {
		return r, err
	}
	if r.Source, err = loadSource(tx, sum); err != nil {
		return r, fmt.Errorf("%v: %w", err, ErrTampered)
	}
	return r, nil
}

// Runs lists runs newest first; limit <= 0 means all. Only each run's
// record and last event are decoded, so listing stays cheap with many runs.
// A damaged run is listed with Err set (see RunSummary), not left out.
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
// once the oldest run has been returned). Keys are the same in both
// layouts, so a scan goes on correctly if a writer migrates the file
// between two batches.
func (db *DB) runsBefore(before []byte, n int) ([]RunSummary, []byte, error) {
	var (
		out  []RunSummary
		next []byte
	)
	err := db.view(func(tx *bolt.Tx, schema int) error {
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
			if (schema == 1) != (v == nil) {
				continue // v1 runs are buckets, v2 runs are values
			}
			if len(out) == n {
				// More remain: the next call resumes below the last key
				// returned, which stays correct if runs are added meanwhile.
				next = bytes.Clone(lastKey)
				return nil
			}
			if schema == 1 {
				out = append(out, v1Summary(runs, k))
			} else {
				out = append(out, summary(tx, k, v))
			}
			lastKey = k
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: list runs: %w", db.path, err)
	}
	return out, next, nil
}

func summary(tx *bolt.Tx, k, v []byte) RunSummary {
	s := RunSummary{Run: Run{ID: string(k)}}
	e, err := decodeEntry(v)
	if err != nil {
		s.Err = fmt.Errorf("%v: %w", err, ErrTampered)
		return s
	}
	r, _, err := decodeRecord(e)
	if err != nil {
		s.Err = err
	} else {
		s.Run, s.Run.Source = r, nil
		if r.ID != string(k) {
			s.Err, s.Run.ID = idMismatch(r.ID), string(k)
		}
	}
	if nb := tx.Bucket(bucketNotes); nb != nil && nb.Get(runNoKey(e.runNo)) != nil {
		s.Err = firstErr(s.Err, fmt.Errorf("run was damaged before its journal was migrated: %w", ErrTampered))
	}
	last, ok, err := lastEventTx(tx, e)
	if err != nil {
		s.Err = firstErr(s.Err, err)
	}
	if ok {
		s.Last, s.Events = last, last.Seq
	}
	return s
}
