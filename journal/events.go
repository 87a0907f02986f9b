package journal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Event is one state change of a run. Append assigns V, Seq, Prev and Hash,
// and Time when it is zero; whatever the caller put there is overwritten.
type Event struct {
	V        int               `json:"v"`    // schema of the event's encoding: 1 (migrated) or 2
	Seq      uint64            `json:"seq"`  // 1-based, contiguous
	Time     time.Time         `json:"time"` // UTC
	Type     string            `json:"type"` // engine-defined, e.g. "run.started"
	Step     string            `json:"step,omitempty"`
	Item     string            `json:"item,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Token    string            `json:"token,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Evidence string            `json:"evidence,omitempty"`
	Error    string            `json:"error,omitempty"`
	User     string            `json:"user,omitempty"` // who caused it (approve, force)
	Data     json.RawMessage   `json:"data,omitempty"` // engine-defined payload
	Prev     string            `json:"prev"`           // hash of the previous event, or of the run record for seq 1
	Hash     string            `json:"hash"`           // sha256 of this event's JSON with Hash empty
}

// eventHash is the sha256 of e's JSON with Hash empty. encoding/json is
// deterministic for this struct: fixed field order, sorted map keys, and
// Data compacted as it is marshalled.
func eventHash(e Event) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	return hashHex(b), nil
}

// Append records e in one fsynced Update, chained to the run's head, and
// returns the event exactly as stored.
func (db *DB) Append(runID string, e Event) (Event, error) {
	e, err := prepare(e)
	if err != nil {
		return Event{}, db.runError(fmt.Sprintf("append %q to", e.Type), runID, err)
	}
	var out Event
	err = db.update(func(tx *bolt.Tx) error {
		var err error
		out, err = appendTx(tx, runID, e)
		return err
	})
	if err != nil {
		return Event{}, db.runError(fmt.Sprintf("append %q to", e.Type), runID, err)
	}
	return out, nil
}

// prepare does what needs no transaction: the time, the version, and one
// pass through JSON, so what gets hashed is what a decoder will see.
func prepare(e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	// UTC keeps the stored bytes independent of the machine's zone.
	e.Time = e.Time.UTC()
	e.V = SchemaVersion
	return normalize(e)
}

func appendTx(tx *bolt.Tx, runID string, e Event) (Event, error) {
	ent, err := runEntry(tx, runID)
	if err != nil {
		return Event{}, err
	}
	if nb := tx.Bucket(bucketNotes); nb != nil && nb.Get(runNoKey(ent.runNo)) != nil {
		return Event{}, fmt.Errorf("run was damaged before its journal was migrated, refusing to append: %w", ErrTampered)
	}
	headV, lastK, lastV, _ := lastStored(tx, ent.runNo)
	h, err := decodeHead(headV)
	if err != nil {
		return Event{}, fmt.Errorf("run structure damaged (%v), refusing to append: %w", err, ErrTampered)
	}
	// Chaining onto a head that disagrees with the stored events would
	// bless the damage; stop instead.
	var last uint64
	lastHash := ""
	if lastK != nil {
		last, lastHash = seqOf(lastK), storedHash(lastV)
	} else {
		lastHash = ent.root()
	}
	if last != h.Seq || lastHash != h.Hash {
		return Event{}, fmt.Errorf("head anchor (seq %d) does not match the last stored event (seq %d), refusing to append: %w", h.Seq, last, ErrTampered)
	}
	if h.Seq >= maxSeq {
		return Event{}, fmt.Errorf("run has %d events, the most a run can hold", h.Seq)
	}
	prev, err := hex.DecodeString(h.Hash)
	if err != nil || len(prev) != hashLen {
		return Event{}, fmt.Errorf("head anchor hash unreadable, refusing to append: %w", ErrTampered)
	}
	e.Seq, e.Prev = h.Seq+1, h.Hash
	if e.Hash, err = eventHash(e); err != nil {
		return Event{}, err
	}
	sum, _ := hex.DecodeString(e.Hash)
	stored := encodeEvent(e, sum)
	if len(stored) > MaxRecordSize {
		return Event{}, tooLarge("event", len(stored))
	}
	// Verify and Events rebuild the event from the stored bytes, so they
	// must give back exactly this event (and so the same JSON and hash).
	out, err := compactEvent(e.Seq, stored, e.Prev)
	if err != nil || !reflect.DeepEqual(out, e) {
		return Event{}, fmt.Errorf("event does not encode deterministically")
	}
	events := tx.Bucket(bucketEvents)
	events.FillPercent = fillPercent
	runNo := ent.runNo
	if err := events.Put(eventKey(runNo, uint32(e.Seq)), stored); err != nil {
		return Event{}, err
	}
	return out, events.Put(eventKey(runNo, headSeq), encodeHead(e.Seq, sum))
}

// normalize makes e what a JSON decoder would see, so that what gets
// hashed is what Verify rebuilds: invalid UTF-8 (a tail cut mid-rune)
// becomes U+FFFD, Data is compacted, a null Data and empty Outputs become
// absent. Without it such events would fail to re-encode to their stored
// bytes. Events whose text is valid UTF-8, nearly all of them, skip the
// round trip through JSON: only Data needs it.
func normalize(e Event) (Event, error) {
	if !validUTF8(e) {
		return viaJSON(e)
	}
	if len(e.Outputs) == 0 {
		e.Outputs = nil
	}
	if len(e.Data) == 0 {
		e.Data = nil
		return e, nil
	}
	d, err := json.Marshal(e.Data) // compacts and validates, as Marshal of the event would
	if err != nil {
		return Event{}, err
	}
	if bytes.Equal(d, []byte("null")) {
		d = nil
	}
	e.Data = d
	return e, nil
}

func validUTF8(e Event) bool {
	for _, s := range []string{e.Type, e.Step, e.Item, e.Token, e.Evidence, e.Error, e.User, e.Prev, e.Hash} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for k, v := range e.Outputs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

func viaJSON(e Event) (Event, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return Event{}, err
	}
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		return Event{}, err
	}
	if bytes.Equal(out.Data, []byte("null")) {
		out.Data = nil
	}
	return out, nil
}

func seqOf(k []byte) uint64 {
	return uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
}

// compactEvent rebuilds a stored compact event: seq from its key, prev
// from the event before it.
func compactEvent(seq uint64, v []byte, prev string) (Event, error) {
	e, sum, err := decodeCompactEvent(v)
	if err != nil {
		return Event{}, err
	}
	e.Seq, e.Prev, e.Hash = seq, prev, hex.EncodeToString(sum)
	return e, nil
}

// storedEvent decodes a stored event of either format; prev is the hash
// of what precedes it, which compact events do not store.
func storedEvent(k []byte, seq uint64, v []byte, prev string) (Event, error) {
	switch {
	case len(v) > 0 && v[0] == formatV1:
		var e Event
		return e, decodeJSONEvent(k, v[1:], &e)
	case len(v) > 0 && v[0] == formatCompact:
		e, err := compactEvent(seq, v, prev)
		if err != nil {
			return e, fmt.Errorf("event at key %x unreadable (%v): %w", k, err, ErrTampered)
		}
		return e, nil
	}
	return Event{}, fmt.Errorf("event at key %x unreadable (unknown format): %w", k, ErrTampered)
}

func decodeJSONEvent(k, v []byte, e *Event) error {
	if err := json.Unmarshal(v, e); err != nil {
		return fmt.Errorf("event at key %x unreadable (%v): %w", k, err, ErrTampered)
	}
	return nil
}

// Events returns the run's events in order. It does not check the chain:
// use Verify for that, so a damaged run can still be inspected. A compact
// event's Prev is the stored hash of the event before it.
func (db *DB) Events(runID string) ([]Event, error) {
	var out []Event
	err := db.view(func(tx *bolt.Tx, schema int) error {
		var err error
		if schema == 1 {
			out, err = v1EventsTx(tx, runID)
			return err
		}
		ent, err := runEntry(tx, runID)
		if err != nil {
			return err
		}
		prev := ent.root()
		return runEvents(tx, ent.runNo, func(k []byte, seq uint64, v []byte) error {
			e, err := storedEvent(k, seq, v, prev)
			if err != nil {
				return err
			}
			out = append(out, e)
			prev = e.Hash
			return nil
		})
	})
	if err != nil {
		return nil, db.runError("events of", runID, err)
	}
	return out, nil
}

// LastEvent returns the run's newest event; false if it has none.
func (db *DB) LastEvent(runID string) (Event, bool, error) {
	var (
		e  Event
		ok bool
	)
	err := db.view(func(tx *bolt.Tx, schema int) error {
		var err error
		if schema == 1 {
			e, ok, err = v1LastEventTx(tx, runID)
			return err
		}
		ent, err := runEntry(tx, runID)
		if err != nil {
			return err
		}
		e, ok, err = lastEventTx(tx, ent)
		return err
	})
	if err != nil {
		return Event{}, false, db.runError("last event of", runID, err)
	}
	return e, ok, nil
}

func lastEventTx(tx *bolt.Tx, ent entry) (Event, bool, error) {
	_, k, v, prevV := lastStored(tx, ent.runNo)
	if k == nil {
		return Event{}, false, nil
	}
	prev := storedHash(prevV)
	if prevV == nil {
		prev = ent.root()
	}
	e, err := storedEvent(k, seqOf(k), v, prev)
	return e, err == nil, err
}
