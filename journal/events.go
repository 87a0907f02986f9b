package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is one state change of a run. Append assigns V, Seq, Prev and Hash,
// and Time when it is zero; whatever the caller put there is overwritten.
type Event struct {
	V        int               `json:"v"`    // SchemaVersion
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
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	// UTC keeps the stored bytes independent of the machine's zone.
	e.Time = e.Time.UTC()
	e.V = SchemaVersion
	n, err := normalize(e)
	if err != nil {
		return Event{}, fmt.Errorf("journal %s: append %q to run %s: %w", db.path, e.Type, runID, err)
	}
	e = n
	var out Event
	err = db.update(func(tx *bolt.Tx) error {
		var err error
		out, err = appendTx(tx, runID, e)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("journal %s: append %q to run %s: %w", db.path, e.Type, runID, err)
	}
	return out, nil
}

func appendTx(tx *bolt.Tx, runID string, e Event) (Event, error) {
	rb := runBucket(tx, runID)
	if rb == nil {
		return Event{}, ErrRunNotFound
	}
	eb := rb.Bucket(bucketEvents)
	h, err := readHead(rb)
	if err != nil || eb == nil {
		return Event{}, fmt.Errorf("run structure damaged, refusing to append (run `cairn verify`): %w", ErrTampered)
	}
	// Chaining onto a head that disagrees with the stored events would
	// bless the damage; stop instead.
	var last uint64
	if k, _ := eb.Cursor().Last(); len(k) == 8 {
		last = binary.BigEndian.Uint64(k)
	}
	if last != h.Seq {
		return Event{}, fmt.Errorf("head anchor is at seq %d but the last event is seq %d, refusing to append (run `cairn verify`): %w", h.Seq, last, ErrTampered)
	}

	e.Seq, e.Prev = h.Seq+1, h.Hash
	if e.Hash, err = eventHash(e); err != nil {
		return Event{}, err
	}
	stored, err := json.Marshal(e)
	if err != nil {
		return Event{}, err
	}
	// Verify recomputes hashes by decoding and re-encoding, so the stored
	// bytes must survive that round trip unchanged.
	var out Event
	if err := json.Unmarshal(stored, &out); err != nil {
		return Event{}, err
	}
	if again, err := json.Marshal(out); err != nil || !bytes.Equal(again, stored) {
		return Event{}, fmt.Errorf("event does not encode deterministically")
	}
	if err := eb.Put(seqKey(e.Seq), stored); err != nil {
		return Event{}, err
	}
	hb, err := json.Marshal(head{Seq: e.Seq, Hash: e.Hash})
	if err != nil {
		return Event{}, err
	}
	return out, rb.Put(keyHead, hb)
}

// normalize passes e through JSON once, so what gets hashed is what a
// decoder will see: invalid UTF-8 (a tail cut mid-rune) becomes U+FFFD and a
// null Data becomes absent. Without it such events would fail to re-encode
// to their stored bytes.
func normalize(e Event) (Event, error) {
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

func readHead(rb *bolt.Bucket) (head, error) {
	var h head
	b := rb.Get(keyHead)
	if b == nil {
		return h, fmt.Errorf("head anchor missing")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("head anchor unreadable: %v", err)
	}
	return h, nil
}

func decodeEvent(k, v []byte, e *Event) error {
	if err := json.Unmarshal(v, e); err != nil {
		return fmt.Errorf("event at key %x unreadable (%v): %w", k, err, ErrTampered)
	}
	return nil
}

// Events returns the run's events in order. It does not check the chain:
// use Verify for that, so a damaged run can still be inspected.
func (db *DB) Events(runID string) ([]Event, error) {
	var out []Event
	err := db.view(func(tx *bolt.Tx) error {
		rb := runBucket(tx, runID)
		if rb == nil {
			return ErrRunNotFound
		}
		eb := rb.Bucket(bucketEvents)
		if eb == nil {
			return fmt.Errorf("events bucket missing: %w", ErrTampered)
		}
		return eb.ForEach(func(k, v []byte) error {
			var e Event
			if err := decodeEvent(k, v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("journal %s: events of run %s: %w", db.path, runID, err)
	}
	return out, nil
}

// LastEvent returns the run's newest event; false if it has none.
func (db *DB) LastEvent(runID string) (Event, bool, error) {
	var (
		e  Event
		ok bool
	)
	err := db.view(func(tx *bolt.Tx) error {
		rb := runBucket(tx, runID)
		if rb == nil {
			return ErrRunNotFound
		}
		eb := rb.Bucket(bucketEvents)
		if eb == nil {
			return fmt.Errorf("events bucket missing: %w", ErrTampered)
		}
		k, v := eb.Cursor().Last()
		if k == nil {
			return nil
		}
		ok = true
		return decodeEvent(k, v, &e)
	})
	if err != nil {
		return Event{}, false, fmt.Errorf("journal %s: last event of run %s: %w", db.path, runID, err)
	}
	return e, ok, nil
}
