package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Journal layout, schema 2. Every bucket is flat:
//
//	meta     "schema" -> "2"; "migrated" -> when and from what, if it was
//	runs     run id -> format byte, run number (4 bytes), run record
//	events   run number + seq (4 + 4 bytes) -> event; run number + 0xFFFFFFFF -> head
//	sources  sha256 of a playbook text -> the text, stored once
//	notes    run number -> problems found while migrating that this layout
//	         cannot hold (entries of a v1 run that were not events)
//
// Why: in v1 each run was a nested bucket holding its record (with the
// whole playbook text) and its head, so every Append rewrote the page
// holding the record, a page for the nested bucket and one for the events:
// 6.2 pages per commit, and a run of a 2 MB playbook rewrote 2 MB per
// event. Here an Append writes two adjacent keys, the event and the run's
// head, which share the leaf page that the run's newest events are on. The
// runs bucket is only read.
//
// The head stays a record of its own: without it, removing the last
// events leaves a shorter chain that verifies. Keyed right after the run's
// events, it costs no page write of its own; only its ~58 bytes.
//
// Keys carry a run number rather than the run id: ids are 22 bytes, and a
// run of 8 events has 9 keys. Run numbers are handed out in creation
// order, so a new run's events go to the right edge of the tree and its
// pages fill up.
var (
	bucketMeta    = []byte("meta")
	bucketRuns    = []byte("runs")
	bucketEvents  = []byte("events")
	bucketSources = []byte("sources")
	bucketNotes   = []byte("notes")
	keySchema     = []byte("schema")
	keyMigrated   = []byte("migrated")
)

// headSeq is the seq half of a head's key; no event has it.
const headSeq = math.MaxUint32

// maxSeq is the largest seq an event can have.
const maxSeq = headSeq - 1

// Formats of a run's entry in the runs bucket.
const (
	recordMissing = 0             // migrated from a v1 run that had no record
	recordV1      = formatV1      // a v1 record, verbatim: JSON with the source inline
	recordV2      = formatCompact // record, compact (see codec.go): the source stored by hash
)

// record is a run record as this build stores and hashes it: Run with the
// playbook text replaced by its sha256, under which sources holds it. The
// fields must stay in Run's order with Run's JSON names (a test checks).
type record struct {
	ID           string            `json:"id"`
	Playbook     string            `json:"playbook"`
	PlaybookFile string            `json:"playbookFile"`
	Digest       string            `json:"digest"`
	SourceSHA256 string            `json:"sourceSha256,omitempty"`
	Params       map[string]string `json:"params"`
	User         string            `json:"user"`
	Host         string            `json:"host"`
	Started      time.Time         `json:"started"`
	Target       map[string]string `json:"target,omitempty"`
	CairnVersion string            `json:"cairnVersion,omitempty"`
}

// recordOf stores Started in UTC, so the record reads the same anywhere.
func recordOf(r Run, sourceSum string) record {
	return record{ID: r.ID, Playbook: r.Playbook, PlaybookFile: r.PlaybookFile, Digest: r.Digest, SourceSHA256: sourceSum,
		Params: r.Params, User: r.User, Host: r.Host, Started: r.Started.UTC(), Target: r.Target, CairnVersion: r.CairnVersion}
}

func (rec record) run() Run {
	return Run{ID: rec.ID, Playbook: rec.Playbook, PlaybookFile: rec.PlaybookFile, Digest: rec.Digest,
		Params: rec.Params, User: rec.User, Host: rec.Host, Started: rec.Started, Target: rec.Target, CairnVersion: rec.CairnVersion}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func eventKey(runNo uint32, seq uint32) []byte {
	var k [8]byte
	binary.BigEndian.PutUint32(k[:4], runNo)
	binary.BigEndian.PutUint32(k[4:], seq)
	return k[:]
}

func runNoKey(runNo uint32) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], runNo)
	return k[:]
}

// entry is a run's entry in the runs bucket.
type entry struct {
	format byte
	runNo  uint32
	rec    []byte // the record as stored: v1 JSON or compact; nil if missing
}

// hashed is the record's bytes as hashed (the root of the run's chain) and
// exported: the v1 JSON as stored, or the JSON of a compact record.
func (e entry) hashed() ([]byte, error) {
	switch e.format {
	case recordMissing:
		return nil, fmt.Errorf("run record missing: %w", ErrTampered)
	case recordV1:
		return e.rec, nil
	}
	rec, err := decodeRecordBin(e.rec)
	if err != nil {
		return nil, fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
	}
	return json.Marshal(rec)
}

// root is what a run's first event chains to; "" if the record is
// missing or unreadable.
func (e entry) root() string {
	b, err := e.hashed()
	if err != nil {
		return ""
	}
	return hashHex(b)
}

func encodeEntry(format byte, runNo uint32, rec []byte) []byte {
	b := make([]byte, 5, 5+len(rec))
	b[0] = format
	binary.BigEndian.PutUint32(b[1:], runNo)
	return append(b, rec...)
}

func decodeEntry(v []byte) (entry, error) {
	if len(v) < 5 {
		return entry{}, fmt.Errorf("run entry is %d bytes", len(v))
	}
	e := entry{format: v[0], runNo: binary.BigEndian.Uint32(v[1:5]), rec: v[5:]}
	switch e.format {
	case recordMissing:
		e.rec = nil
	case recordV1, recordV2:
	default:
		return e, fmt.Errorf("run entry has unknown format %d", e.format)
	}
	return e, nil
}

// runEntry finds a run; ErrRunNotFound if it is not there, ErrTampered if
// its entry cannot be read.
func runEntry(tx *bolt.Tx, id string) (entry, error) {
	runs := tx.Bucket(bucketRuns)
	if runs == nil {
		return entry{}, ErrRunNotFound
	}
	v := runs.Get([]byte(id))
	if v == nil {
		return entry{}, ErrRunNotFound
	}
	e, err := decodeEntry(v)
	if err != nil {
		return e, fmt.Errorf("%v: %w", err, ErrTampered)
	}
	return e, nil
}

// decodeRecord reads a run record of either format. The v2 one's source is
// not loaded: listing must not read every playbook text.
func decodeRecord(e entry) (Run, string, error) {
	var r Run
	switch e.format {
	case recordMissing:
		return r, "", fmt.Errorf("run record missing: %w", ErrTampered)
	case recordV1:
		if err := json.Unmarshal(e.rec, &r); err != nil {
			return r, "", fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
		}
		return r, "", nil
	}
	rec, err := decodeRecordBin(e.rec)
	if err != nil {
		return r, "", fmt.Errorf("run record unreadable (%v): %w", err, ErrTampered)
	}
	return rec.run(), rec.SourceSHA256, nil
}

// loadSource returns the playbook text stored under sum, checked.
func loadSource(tx *bolt.Tx, sum string) ([]byte, error) {
	key, err := hex.DecodeString(sum)
	if err != nil || len(key) != sha256.Size {
		return nil, fmt.Errorf("run record names playbook source %q, which is not a sha256", sum)
	}
	var src []byte
	if sb := tx.Bucket(bucketSources); sb != nil {
		src = sb.Get(key)
	}
	if src == nil {
		return nil, fmt.Errorf("playbook source %.12s missing", sum)
	}
	if hashHex(src) != sum {
		return nil, fmt.Errorf("playbook source %.12s does not match its hash: altered", sum)
	}
	return bytes.Clone(src), nil
}

// storedHash is the hash a stored event was written with, which the next
// event chains to, or "" if it cannot be read.
func storedHash(v []byte) string {
	switch {
	case len(v) > hashLen && v[0] == formatCompact:
		return hex.EncodeToString(v[1 : 1+hashLen])
	case len(v) > 0 && v[0] == formatV1:
		var h struct {
			Hash string `json:"hash"`
		}
		if json.Unmarshal(v[1:], &h) == nil {
			return h.Hash
		}
	}
	return ""
}

// runEvents walks a run's stored events in order (not its head): fn gets
// each key's seq and value. Keys of another length are reported as such.
func runEvents(tx *bolt.Tx, runNo uint32, fn func(k []byte, seq uint64, v []byte) error) error {
	eb := tx.Bucket(bucketEvents)
	if eb == nil {
		return nil
	}
	prefix := runNoKey(runNo)
	c := eb.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		seq := uint64(headSeq)
		if len(k) == 8 {
			seq = uint64(binary.BigEndian.Uint32(k[4:]))
		}
		if len(k) == 8 && seq == headSeq {
			continue
		}
		if err := fn(k, seq, v); err != nil {
			return err
		}
	}
	return nil
}

// lastStored is a run's head value (nil if missing) and its newest stored
// event with the value before it (nil when there is none).
func lastStored(tx *bolt.Tx, runNo uint32) (headV, lastK, lastV, prevV []byte) {
	eb := tx.Bucket(bucketEvents)
	if eb == nil {
		return nil, nil, nil, nil
	}
	c := eb.Cursor()
	hk := eventKey(runNo, headSeq)
	k, v := c.Seek(hk)
	if bytes.Equal(k, hk) {
		headV = v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if !isEventKey(k, runNo) {
		return headV, nil, nil, nil
	}
	lastK, lastV = k, v
	if k, v = c.Prev(); isEventKey(k, runNo) {
		prevV = v
	}
	return headV, lastK, lastV, prevV
}

func isEventKey(k []byte, runNo uint32) bool {
	return len(k) == 8 && binary.BigEndian.Uint32(k[:4]) == runNo && binary.BigEndian.Uint32(k[4:]) != headSeq
}
