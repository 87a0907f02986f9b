package journal

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Reading a v1 journal in place. Read-only opens never migrate (an auditor
// may have a copy they must not change, or no write access), so runs, show,
// verify and export read v1 files with this code, which is the v1 reader
// with its listing made robust. The first writer migrates the file.
//
// v1 layout: bucket runs -> one bucket per run id holding "run" (the record
// JSON, source inline), "head" ({"seq","hash"}) and a bucket "events" keyed
// by the 8-byte big-endian seq.

var (
	v1Events = []byte("events")
	v1Run    = []byte("run")
	v1Head   = []byte("head")
)

// v1RunBucket is nil when the run, or the runs bucket, is missing.
func v1RunBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	runs := tx.Bucket(bucketRuns)
	if runs == nil {
		return nil
	}
	return runs.Bucket([]byte(id))
}

func unmarshalHead(b []byte, h *head) error {
	if err := json.Unmarshal(b, h); err != nil {
		return fmt.Errorf("head anchor unreadable: %v", err)
	}
	return nil
}

func v1ReadHead(rb *bolt.Bucket) (head, error) {
	var h head
	b := rb.Get(v1Head)
	if b == nil {
		return h, fmt.Errorf("head anchor missing")
	}
	return h, unmarshalHead(b, &h)
}

func v1DecodeRun(rb *bolt.Bucket, r *Run) error {
	rec := rb.Get(v1Run)
	if rec == nil {
		return fmt.Errorf("run record missing: %w", ErrTampered)
	}
	if err := json.Unmarshal(rec, r); err != nil {
		return fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
	}
	return nil
}

func v1RunTx(tx *bolt.Tx, id string) (Run, error) {
	var r Run
	rb := v1RunBucket(tx, id)
	if rb == nil {
		return r, ErrRunNotFound
	}
	return r, v1DecodeRun(rb, &r)
}

func v1EventsTx(tx *bolt.Tx, id string) ([]Event, error) {
	rb := v1RunBucket(tx, id)
	if rb == nil {
		return nil, ErrRunNotFound
	}
	eb := rb.Bucket(v1Events)
	if eb == nil {
		return nil, fmt.Errorf("events bucket missing: %w", ErrTampered)
	}
	var out []Event
	return out, eb.ForEach(func(k, v []byte) error {
		var e Event
		if err := decodeJSONEvent(k, v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
}

func v1LastEventTx(tx *bolt.Tx, id string) (Event, bool, error) {
	var e Event
	rb := v1RunBucket(tx, id)
	if rb == nil {
		return e, false, ErrRunNotFound
	}
	eb := rb.Bucket(v1Events)
	if eb == nil {
		return e, false, fmt.Errorf("events bucket missing: %w", ErrTampered)
	}
	k, v := eb.Cursor().Last()
	if k == nil {
		return e, false, nil
	}
	return e, true, decodeJSONEvent(k, v, &e)
}

// v1Summary reads one run for listing. A damaged run is returned with Err
// set and its key as Run.ID, so one bad run cannot hide the others.
func v1Summary(runs *bolt.Bucket, k []byte) RunSummary {
	s := RunSummary{Run: Run{ID: string(k)}}
	rb := runs.Bucket(k)
	if err := v1DecodeRun(rb, &s.Run); err != nil {
		s.Run.ID, s.Err = string(k), err
		return s
	}
	s.Run.Source = nil
	if s.Run.ID != string(k) {
		s.Err = idMismatch(s.Run.ID)
		s.Run.ID = string(k)
	}
	eb := rb.Bucket(v1Events)
	if eb == nil {
		s.Err = firstErr(s.Err, fmt.Errorf("events bucket missing: %w", ErrTampered))
		return s
	}
	k, v := eb.Cursor().Last()
	if k == nil {
		return s
	}
	if len(k) != 8 {
		s.Err = firstErr(s.Err, fmt.Errorf("unexpected entry %x among the events: %w", k, ErrTampered))
		return s
	}
	if err := decodeJSONEvent(k, v, &s.Last); err != nil {
		s.Err = firstErr(s.Err, err)
	}
	s.Events = binary.BigEndian.Uint64(k)
	return s
}

func v1VerifyTx(tx *bolt.Tx, runID string, add func(uint64, string, ...any)) (Head, error) {
	rb := v1RunBucket(tx, runID)
	if rb == nil {
		return Head{}, ErrRunNotFound
	}
	// prev is what the next event's Prev must be; "" once unknowable,
	// so one unreadable event is not also blamed on its successor.
	var prev, prevName string
	if rec := rb.Get(v1Run); rec == nil {
		add(0, "run record missing")
	} else {
		prev, prevName = hashHex(rec), "the run record"
		checkRecordID(rec, runID, add)
	}
	var last uint64
	if eb := rb.Bucket(v1Events); eb == nil {
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
			prev = checkJSONEvent(seq, v, prev, prevName, add)
			prevName = fmt.Sprintf("seq %d", seq)
		}
	}
	h, err := v1ReadHead(rb)
	checkHead(h, err, last, prev, prevName, add)
	return Head{Seq: last, Hash: prev}, nil
}

func v1ExportTx(tx *bolt.Tx, runID string, line func(kind string, raw []byte) error) error {
	rb := v1RunBucket(tx, runID)
	if rb == nil {
		return ErrRunNotFound
	}
	if err := line("run", rb.Get(v1Run)); err != nil {
		return fmt.Errorf("run record unreadable: %w", ErrTampered)
	}
	eb := rb.Bucket(v1Events)
	if eb == nil {
		return fmt.Errorf("events bucket missing: %w", ErrTampered)
	}
	if err := eb.ForEach(func(k, v []byte) error {
		if err := line("event", v); err != nil {
			return fmt.Errorf("event at key %x unreadable: %w", k, ErrTampered)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := line("head", rb.Get(v1Head)); err != nil {
		return fmt.Errorf("head anchor unreadable: %w", ErrTampered)
	}
	return nil
}
