// Package journalv1 is a frozen copy of the code that wrote cairn journals
// of schema 1 (package journal at commit 98175fc). Tests use it to build v1
// files to migrate, and the benchmarks to measure v1 beside the current
// layout in one run. Never change what it writes: files written by released
// cairn versions look exactly like this.
//
// v1 layout: bucket "meta" {"schema": "1"}; bucket "runs" holds one nested
// bucket per run id with "run" (the run record's JSON, the playbook source
// included), "head" ({"seq","hash"} of the last event) and a nested
// "events" bucket keyed by the big-endian seq, each value the event's JSON
// with its "prev" and "hash".
package journalv1

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is the v1 event, field for field.
type Event struct {
	V        int               `json:"v"`
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Type     string            `json:"type"`
	Step     string            `json:"step,omitempty"`
	Item     string            `json:"item,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Token    string            `json:"token,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Evidence string            `json:"evidence,omitempty"`
	Error    string            `json:"error,omitempty"`
	User     string            `json:"user,omitempty"`
	Data     json.RawMessage   `json:"data,omitempty"`
	Prev     string            `json:"prev"`
	Hash     string            `json:"hash"`
}

// Run is the v1 run record, field for field.
type Run struct {
	ID           string            `json:"id"`
	Playbook     string            `json:"playbook"`
	PlaybookFile string            `json:"playbookFile"`
	Digest       string            `json:"digest"`
	Source       []byte            `json:"source,omitempty"`
	Params       map[string]string `json:"params"`
	User         string            `json:"user"`
	Host         string            `json:"host"`
	Started      time.Time         `json:"started"`
	Target       map[string]string `json:"target,omitempty"`
	CairnVersion string            `json:"cairnVersion,omitempty"`
}

type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

var (
	bucketMeta   = []byte("meta")
	bucketRuns   = []byte("runs")
	bucketEvents = []byte("events")
	keySchema    = []byte("schema")
	keyRun       = []byte("run")
	keyHead      = []byte("head")
)

// Init writes what v1's Open wrote into a new file.
func Init(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keySchema, []byte("1")); err != nil {
		return err
	}
	_, err = tx.CreateBucketIfNotExists(bucketRuns)
	return err
}

// CreateRun is v1's CreateRun inside the caller's transaction.
func CreateRun(tx *bolt.Tx, r Run) error {
	if r.ID == "" {
		return errors.New("create run: empty run id")
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return err
	}
	runs, err := tx.CreateBucketIfNotExists(bucketRuns)
	if err != nil {
		return err
	}
	key := []byte(r.ID)
	if runs.Bucket(key) != nil || runs.Get(key) != nil {
		return errors.New("run already exists")
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

// Append is v1's Append inside the caller's transaction: the time defaults
// to now and becomes UTC, V is 1, and the event is chained to the head.
func Append(tx *bolt.Tx, runID string, e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.V = 1
	e, err := normalize(e)
	if err != nil {
		return Event{}, err
	}
	runs := tx.Bucket(bucketRuns)
	if runs == nil {
		return Event{}, errors.New("run not found")
	}
	rb := runs.Bucket([]byte(runID))
	if rb == nil {
		return Event{}, errors.New("run not found")
	}
	eb := rb.Bucket(bucketEvents)
	var h head
	if err := json.Unmarshal(rb.Get(keyHead), &h); err != nil || eb == nil {
		return Event{}, errors.New("run structure damaged")
	}
	var last uint64
	if k, _ := eb.Cursor().Last(); len(k) == 8 {
		last = binary.BigEndian.Uint64(k)
	}
	if last != h.Seq {
		return Event{}, fmt.Errorf("head anchor is at seq %d but the last event is seq %d", h.Seq, last)
	}
	e.Seq, e.Prev = h.Seq+1, h.Hash
	if e.Hash, err = eventHash(e); err != nil {
		return Event{}, err
	}
	stored, err := json.Marshal(e)
	if err != nil {
		return Event{}, err
	}
	var out Event
	if err := json.Unmarshal(stored, &out); err != nil {
		return Event{}, err
	}
	if again, err := json.Marshal(out); err != nil || !bytes.Equal(again, stored) {
		return Event{}, errors.New("event does not encode deterministically")
	}
	if err := eb.Put(SeqKey(e.Seq), stored); err != nil {
		return Event{}, err
	}
	hb, err := json.Marshal(head{Seq: e.Seq, Hash: e.Hash})
	if err != nil {
		return Event{}, err
	}
	return out, rb.Put(keyHead, hb)
}

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

func eventHash(e Event) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	return hashHex(b), nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SeqKey is a v1 event key.
func SeqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// WriteFile creates a v1 journal at path holding runs, each with its
// events, one transaction per run, as v1's ImportRun did.
func WriteFile(path string, runs []Run, events [][]Event) error {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	if err := b.Update(Init); err != nil {
		b.Close()
		return err
	}
	for i, r := range runs {
		if err := b.Update(func(tx *bolt.Tx) error {
			if err := CreateRun(tx, r); err != nil {
				return err
			}
			for _, e := range events[i] {
				if _, err := Append(tx, r.ID, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Close()
			return fmt.Errorf("run %s: %w", r.ID, err)
		}
	}
	return b.Close()
}
