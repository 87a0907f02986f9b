package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Problem is one inconsistency found by Verify. Seq 0 means the run record
// or the head anchor rather than an event.
type Problem struct {
	Seq  uint64
	What string
}

// VerifyError lists every problem Verify found in a run. It errors.Is
// ErrTampered.
type VerifyError struct {
	Path     string
	RunID    string
	Problems []Problem
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal %s: run %s failed verification (%d problem(s))", e.Path, e.RunID, len(e.Problems))
	for _, p := range e.Problems {
		if p.Seq > 0 {
			fmt.Fprintf(&b, "; seq %d: %s", p.Seq, p.What)
		} else {
			fmt.Fprintf(&b, "; %s", p.What)
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrTampered) hold.
func (e *VerifyError) Is(target error) bool { return target == ErrTampered }

// Verify checks one run's record, hash chain, sequence and head anchor, and
// returns nil or a *VerifyError naming every problem it found.
func (db *DB) Verify(runID string) error {
	ve := &VerifyError{Path: db.path, RunID: runID}
	add := func(seq uint64, format string, a ...any) {
		ve.Problems = append(ve.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, a...)})
	}
	err := db.view(func(tx *bolt.Tx) error {
		rb := runBucket(tx, runID)
		if rb == nil {
			return ErrRunNotFound
		}
		// prev is what the next event's Prev must be; "" once unknowable,
		// so one unreadable event is not also blamed on its successor.
		var prev, prevName string
		if rec := rb.Get(keyRun); rec == nil {
			add(0, "run record missing")
		} else {
			prev, prevName = hashHex(rec), "the run record"
			var r Run
			if err := json.Unmarshal(rec, &r); err != nil {
				add(0, "run record unreadable: %v", err)
			} else if r.ID != runID {
				add(0, "run record names id %q", r.ID)
			}
		}
		var last uint64
		if eb := rb.Bucket(bucketEvents); eb == nil {
			add(0, "events bucket missing")
		} else {
			c := eb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v == nil || len(k) != 8 {
					add(0, "unexpected entry %x among the events", k)
					continue
				}
				seq := binary.BigEndian.Uint64(k)
				if seq != last+1 {
					add(last+1, "missing (next stored event is seq %d): removed", seq)
				}
				last = seq
				prev = checkEvent(seq, v, prev, prevName, add)
				prevName = fmt.Sprintf("seq %d", seq)
			}
		}
		h, err := readHead(rb)
		switch {
		case err != nil:
			add(0, "%v", err)
		case h.Seq != last:
			add(max(h.Seq, last), "head anchor says the last event is seq %d, but the journal ends at seq %d: events removed or added", h.Seq, last)
		case prev != "" && h.Hash != prev:
			add(last, "head anchor hash does not match %s: altered", prevName)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal %s: verify run %s: %w", db.path, runID, err)
	}
	if len(ve.Problems) > 0 {
		return ve
	}
	return nil
}

// checkEvent reports what is wrong with one stored event and returns the
// hash the next event must chain to. Re-encoding must give back the stored
// bytes exactly: otherwise an edit that decodes to the same struct (JSON
// keys match case-insensitively) would pass the hash check.
func checkEvent(seq uint64, stored []byte, prev, prevName string, add func(uint64, string, ...any)) string {
	var e Event
	if err := json.Unmarshal(stored, &e); err != nil {
		add(seq, "unreadable (%v): altered", err)
		return ""
	}
	if e.Seq != seq {
		add(seq, "event claims seq %d: moved or altered", e.Seq)
	}
	if e.V < 1 || e.V > SchemaVersion {
		add(seq, "unknown schema version %d", e.V)
	}
	if again, err := json.Marshal(e); err != nil || !bytes.Equal(again, stored) {
		add(seq, "stored bytes are not as written: altered")
	}
	if sum, err := eventHash(e); err != nil || sum != e.Hash {
		add(seq, "content does not match its hash: altered")
	}
	if prev != "" && e.Prev != prev {
		add(seq, "prev does not match the hash of %s: it or this event was altered, or events were removed", prevName)
	}
	return e.Hash
}

// Export writes the run as JSON lines: {"run": ...} then one {"event": ...}
// per event. Records are copied verbatim, so the export can be checked
// against the same hashes offline. The run is read first and written after
// the read transaction ends, so a slow writer cannot hold it open.
func (db *DB) Export(runID string, w io.Writer) error {
	var lines [][]byte
	line := func(kind string, raw []byte) []byte {
		return append(append([]byte(`{"`+kind+`":`), raw...), '}', '\n')
	}
	err := db.view(func(tx *bolt.Tx) error {
		rb := runBucket(tx, runID)
		if rb == nil {
			return ErrRunNotFound
		}
		rec := rb.Get(keyRun)
		if !oneLine(rec) {
			return fmt.Errorf("run record unreadable: %w", ErrTampered)
		}
		lines = append(lines, line("run", rec))
		eb := rb.Bucket(bucketEvents)
		if eb == nil {
			return fmt.Errorf("events bucket missing: %w", ErrTampered)
		}
		return eb.ForEach(func(k, v []byte) error {
			if !oneLine(v) {
				return fmt.Errorf("event at key %x unreadable: %w", k, ErrTampered)
			}
			lines = append(lines, line("event", v))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("journal %s: export run %s: %w", db.path, runID, err)
	}
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		if _, err := bw.Write(l); err != nil {
			return fmt.Errorf("export run %s: %w", runID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export run %s: %w", runID, err)
	}
	return nil
}

// oneLine reports whether raw can be a JSON line as is. encoding/json never
// emits a raw newline, so one in stored bytes means they were edited.
func oneLine(raw []byte) bool {
	return json.Valid(raw) && !bytes.ContainsAny(raw, "\r\n")
}
