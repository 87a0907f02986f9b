package journal

import (
	"bufio"
	"bytes"
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

// Head is the end of a run's hash chain: the seq and hash of its last event
// (seq 0 and the run record's hash before any event). The hash covers every
// event before it, so it is what an auditor writes down to compare later.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Verify checks the run stored under runID: its record (which must name
// runID), its playbook text, hash chain, sequence and head anchor. It
// returns nil or a *VerifyError naming every problem it found.
func (db *DB) Verify(runID string) error {
	_, err := db.VerifyHead(runID)
	return err
}

// VerifyHead is Verify that also returns the head of the chain it checked,
// in the same read transaction; the head means nothing when err != nil.
func (db *DB) VerifyHead(runID string) (Head, error) {
	ve := &VerifyError{Path: db.path, RunID: runID}
	var hd Head
	add := func(seq uint64, format string, a ...any) {
		ve.Problems = append(ve.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, a...)})
	}
	err := db.view(func(tx *bolt.Tx, schema int) error {
		var err error
		if schema == 1 {
			hd, err = v1VerifyTx(tx, runID, add)
		} else {
			hd, err = verifyTx(tx, runID, add)
		}
		return err
	})
	if err != nil {
		return Head{}, db.runError("verify", runID, err)
	}
	if len(ve.Problems) > 0 {
		return Head{}, ve
	}
	return hd, nil
}

func verifyTx(tx *bolt.Tx, runID string, add func(uint64, string, ...any)) (Head, error) {
	runs := tx.Bucket(bucketRuns)
	if runs == nil || runs.Get([]byte(runID)) == nil {
		return Head{}, ErrRunNotFound
	}
	ent, err := decodeEntry(runs.Get([]byte(runID)))
	if err != nil {
		add(0, "run record unreadable: %v", err)
		return Head{}, nil // without its run number, its events cannot be found
	}
	if nb := tx.Bucket(bucketNotes); nb != nil {
		var notes []Problem
		if raw := nb.Get(runNoKey(ent.runNo)); raw != nil {
			if err := json.Unmarshal(raw, &notes); err != nil {
				add(0, "migration notes unreadable: %v", err)
			}
		}
		for _, p := range notes {
			add(p.Seq, "%s", p.What)
		}
	}
	// prev is what the next event chains to; "" once unknowable, so one
	// unreadable event is not also blamed on its successor.
	var prev, prevName string
	switch ent.format {
	case recordMissing:
		add(0, "run record missing")
	case recordV1:
		prev, prevName = hashHex(ent.rec), "the run record"
		checkRecordID(ent.rec, runID, add)
	case recordV2:
		rec, err := decodeRecordBin(ent.rec)
		if err != nil {
			add(0, "run record unreadable: %v", err)
		} else {
			if js, err := json.Marshal(rec); err != nil {
				add(0, "run record unreadable: %v", err)
			} else {
				prev, prevName = hashHex(js), "the run record"
			}
			if rec.ID != runID {
				add(0, "run record names id %q", rec.ID)
			}
			if again, err := encodeRecordBin(rec); err != nil || !bytes.Equal(again, ent.rec) {
				add(0, "run record's stored bytes are not as written: altered")
			}
			if rec.SourceSHA256 != "" {
				if _, err := loadSource(tx, rec.SourceSHA256); err != nil {
					add(0, "%v", err)
				}
			}
		}
	}
	var last uint64
	if err := runEvents(tx, ent.runNo, func(k []byte, seq uint64, v []byte) error {
		if len(k) != 8 {
			add(0, "unexpected entry %x among the events", k)
			return nil
		}
		if seq != last+1 {
			add(last+1, "missing (next stored event is seq %d): removed", seq)
		}
		last = seq
		switch {
		case len(v) > 0 && v[0] == formatV1:
			prev = checkJSONEvent(seq, v[1:], prev, prevName, add)
		case len(v) > 0 && v[0] == formatCompact:
			prev = checkCompactEvent(seq, v, prev, prevName, add)
		default:
			add(seq, "unreadable (unknown format): altered")
			prev = ""
		}
		prevName = fmt.Sprintf("seq %d", seq)
		return nil
	}); err != nil {
		return Head{}, err
	}
	headV, _, _, _ := lastStored(tx, ent.runNo)
	h, err := decodeHead(headV)
	checkHead(h, err, last, prev, prevName, add)
	return Head{Seq: last, Hash: prev}, nil
}

// checkRecordID reports a v1 record that is unreadable or names another
// run than the key it is stored under (a copied run).
func checkRecordID(rec []byte, key string, add func(uint64, string, ...any)) {
	var r Run
	if err := json.Unmarshal(rec, &r); err != nil {
		add(0, "run record unreadable: %v", err)
	} else if r.ID != key {
		add(0, "run record names id %q", r.ID)
	}
}

func checkHead(h head, err error, last uint64, prev, prevName string, add func(uint64, string, ...any)) {
	switch {
	case err != nil:
		add(0, "%v", err)
	case h.Seq != last:
		add(max(h.Seq, last), "head anchor says the last event is seq %d, but the journal ends at seq %d: events removed or added", h.Seq, last)
	case prev != "" && h.Hash != prev:
		add(last, "head anchor hash does not match %s: altered", prevName)
	}
}

// checkJSONEvent checks an event stored as JSON (v1, verbatim) and returns
// the hash the next event must chain to. Re-encoding must give back the
// stored bytes exactly: otherwise an edit that decodes to the same struct
// (JSON keys match case-insensitively) would pass the hash check.
func checkJSONEvent(seq uint64, stored []byte, prev, prevName string, add func(uint64, string, ...any)) string {
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

// checkCompactEvent checks an event in the compact format. Its prev is not
// stored: its hash is checked chained to the event before it, so a
// mismatch means this event was altered, or the one before it rewritten
// along with its hash, or events between them removed.
func checkCompactEvent(seq uint64, stored []byte, prev, prevName string, add func(uint64, string, ...any)) string {
	e, sum, err := decodeCompactEvent(stored)
	if err != nil {
		add(seq, "unreadable (%v): altered", err)
		return ""
	}
	if e.V < 2 || e.V > SchemaVersion {
		add(seq, "unknown schema version %d", e.V)
	}
	if !bytes.Equal(encodeEvent(e, sum), stored) {
		add(seq, "stored bytes are not as written: altered")
	}
	e.Seq, e.Prev, e.Hash = seq, prev, ""
	got, err := eventHash(e)
	switch {
	case err != nil:
		add(seq, "unreadable (%v): altered", err)
	case prev == "":
		// The event before it is unreadable and already reported; this
		// one's hash cannot be recomputed without it.
	case got != fmt.Sprintf("%x", sum):
		add(seq, "content does not match its hash chained to %s: altered, or %s was rewritten, or events were removed", prevName, prevName)
	}
	return fmt.Sprintf("%x", sum)
}

// Export writes the run as JSON lines: {"run": ...}, {"source": ...} when
// the playbook text is stored apart from the record, one {"event": ...}
// per event and {"head": ...}. The run record, the source (base64) and
// the head are the stored bytes; events are in the JSON they were hashed
// as, with prev and hash, so the export checks offline: sha256 of the run
// line's record is the first event's prev, each event's hash is the sha256
// of its JSON with "hash" empty, and the head names the last seq and hash,
// so a removed tail is noticed too. The run is read first and written
// after the read transaction ends, so a slow writer cannot hold it open.
func (db *DB) Export(runID string, w io.Writer) error {
	var lines [][]byte
	line := func(kind string, raw []byte) error {
		if !oneLine(raw) {
			return fmt.Errorf("not one JSON line")
		}
		lines = append(lines, append(append([]byte(`{"`+kind+`":`), raw...), '}', '\n'))
		return nil
	}
	err := db.view(func(tx *bolt.Tx, schema int) error {
		lines = lines[:0]
		if schema == 1 {
			return v1ExportTx(tx, runID, line)
		}
		return exportTx(tx, runID, line)
	})
	if err != nil {
		return db.runError("export", runID, err)
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

func exportTx(tx *bolt.Tx, runID string, line func(kind string, raw []byte) error) error {
	ent, err := runEntry(tx, runID)
	if err != nil {
		return err
	}
	js, err := ent.hashed()
	if err != nil {
		return err
	}
	if err := line("run", js); err != nil {
		return fmt.Errorf("run record unreadable: %w", ErrTampered)
	}
	prev := hashHex(js)
	if _, sum, err := decodeRecord(ent); err == nil && sum != "" {
		src, err := loadSource(tx, sum)
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrTampered)
		}
		b, _ := json.Marshal(src)
		if err := line("source", b); err != nil {
			return err
		}
	}
	if err := runEvents(tx, ent.runNo, func(k []byte, seq uint64, v []byte) error {
		raw := v
		if len(v) > 0 && v[0] == formatV1 {
			raw = v[1:]
		} else {
			e, err := storedEvent(k, seq, v, prev)
			if err != nil {
				return err
			}
			if raw, err = json.Marshal(e); err != nil {
				return err
			}
		}
		if err := line("event", raw); err != nil {
			return fmt.Errorf("event at key %x unreadable: %w", k, ErrTampered)
		}
		prev = storedHash(v)
		return nil
	}); err != nil {
		return err
	}
	headV, _, _, _ := lastStored(tx, ent.runNo)
	h, err := decodeHead(headV)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrTampered)
	}
	raw := []byte(nil)
	if headV[0] == formatV1 {
		raw = headV[1:]
	} else {
		raw, _ = json.Marshal(h)
	}
	return line("head", raw)
}

// oneLine reports whether raw can be a JSON line as is. encoding/json never
// emits a raw newline, so one in stored bytes means they were edited.
func oneLine(raw []byte) bool {
	return json.Valid(raw) && !bytes.ContainsAny(raw, "\r\n")
}
