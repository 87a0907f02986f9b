package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// Chained is a run in its portable form, the one Export writes and the
// journal mirror in the cluster keeps: the run record's JSON as hashed (the
// root of the chain), the playbook text, the events with their prev and
// hash, and the head. It can be checked without the journal file (Check),
// and imported into another journal (ImportChained).
type Chained struct {
	Record []byte // the record's JSON exactly as hashed
	Source []byte // the playbook text; nil if the run has none
	Events []Event
	Head   Head
}

// RecordJSON is the JSON a run's record is hashed as, which its first event
// chains to. It is what Export writes on the run line.
func RecordJSON(r Run) ([]byte, error) {
	rec, err := encodeRecord(r)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", r.ID, err)
	}
	back, err := decodeRecordBin(rec.stored)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", r.ID, err)
	}
	return json.Marshal(back)
}

// RootHash is the hash a run's first event chains to.
func RootHash(record []byte) string { return hashHex(record) }

// EventJSON is an event's JSON as hashed and exported, with prev and hash:
// one line of the portable form.
func EventJSON(e Event) ([]byte, error) { return json.Marshal(e) }

// Check verifies a chained run offline: the record names runID (if given),
// the source matches the record's sha256, each event's hash is the sha256 of
// its JSON and chains to the one before, seqs are contiguous from 1, and the
// head names the last event. It returns nil or a *VerifyError (errors.Is
// ErrTampered) listing every problem.
func (c Chained) Check(where, runID string) error {
	ve := &VerifyError{Path: where, RunID: runID}
	add := func(seq uint64, format string, a ...any) {
		ve.Problems = append(ve.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, a...)})
	}
	var rec record
	if err := json.Unmarshal(c.Record, &rec); err != nil {
		add(0, "run record unreadable: %v", err)
	} else {
		if runID != "" && rec.ID != runID {
			add(0, "run record names id %q", rec.ID)
		}
		switch sum := sha256.Sum256(c.Source); {
		case rec.SourceSHA256 == "" && len(c.Source) > 0:
			add(0, "playbook text present but the run record names none")
		case rec.SourceSHA256 != "" && hex.EncodeToString(sum[:]) != rec.SourceSHA256:
			add(0, "playbook text does not match the run record's sha256: altered")
		}
	}
	prev := hashHex(c.Record)
	for i, e := range c.Events {
		seq := uint64(i + 1)
		if e.Seq != seq {
			add(seq, "event claims seq %d: events removed, added or moved", e.Seq)
		}
		if e.Prev != prev {
			add(seq, "prev does not match the hash of the event before it: it or this event was altered, or events were removed")
		}
		if sum, err := eventHash(e); err != nil || sum != e.Hash {
			add(seq, "content does not match its hash: altered")
		}
		prev = e.Hash
	}
	if n := uint64(len(c.Events)); c.Head.Seq != n || c.Head.Hash != prev {
		add(max(c.Head.Seq, n), "head says the last event is seq %d (%.12s), but the events end at seq %d (%.12s): events removed or added", c.Head.Seq, c.Head.Hash, n, prev)
	}
	if len(ve.Problems) > 0 {
		return ve
	}
	return nil
}

// Run is the run record with its playbook text, as ImportRun takes it.
func (c Chained) Run() (Run, error) {
	var rec record
	if err := json.Unmarshal(c.Record, &rec); err != nil {
		return Run{}, fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
	}
	r := rec.run()
	r.Source = c.Source
	return r, nil
}

// ImportChained checks a chained run and imports it in one Update. The
// imported run must come out with exactly the chained hashes: a record or
// event that this build would encode differently (a run from a v1
// journal) is refused rather than given a new chain.
func (db *DB) ImportChained(c Chained) error {
	r, err := c.Run()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := c.Check(db.path, r.ID); err != nil {
		return err
	}
	if again, err := RecordJSON(r); err != nil || !bytes.Equal(again, c.Record) {
		return fmt.Errorf("import run %s: its record is not in this build's encoding (from an older journal?): %w", r.ID, ErrTampered)
	}
	if err := db.ImportRun(r, c.Events); err != nil {
		return err
	}
	last, ok, err := db.LastEvent(r.ID)
	if err != nil {
		return err
	}
	got := Head{Hash: RootHash(c.Record)}
	if ok {
		got = Head{Seq: last.Seq, Hash: last.Hash}
	}
	if got != c.Head {
		return fmt.Errorf("import run %s: imported head %d/%.12s differs from %d/%.12s: %w", r.ID, got.Seq, got.Hash, c.Head.Seq, c.Head.Hash, ErrTampered)
	}
	return nil
}

// WriteExport writes a chained run as Export does: JSON lines of the run
// record, the source, each event and the head.
func (c Chained) WriteExport(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := func(kind string, raw []byte) {
		bw.WriteString(`{"` + kind + `":`)
		bw.Write(raw)
		bw.WriteString("}\n")
	}
	if !oneLine(c.Record) {
		return fmt.Errorf("export: run record is not one JSON line: %w", ErrTampered)
	}
	line("run", c.Record)
	if c.Source != nil {
		b, _ := json.Marshal(c.Source)
		line("source", b)
	}
	for _, e := range c.Events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("export: event %d: %w", e.Seq, err)
		}
		line("event", b)
	}
	b, _ := json.Marshal(c.Head)
	line("head", b)
	return bw.Flush()
}

// ParseEventLines decodes JSON lines of events as EventJSON writes them.
func ParseEventLines(data []byte) ([]Event, error) {
	var out []Event
	for i, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(l, &e); err != nil {
			return out, fmt.Errorf("line %d unreadable (%v): %w", i+1, err, ErrTampered)
		}
		out = append(out, e)
	}
	return out, nil
}
