package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 22, 2, 24, 0, 0, time.UTC)

func testPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "cairn", "journal.db")
}

func mustOpen(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func sampleRun(id string) Run {
	src := []byte("name: demo\nsteps: []\n")
	sum := sha256.Sum256(src)
	return Run{
		ID:           id,
		Playbook:     "demo",
		PlaybookFile: "builtin:demo",
		Digest:       hex.EncodeToString(sum[:]),
		Source:       src,
		Params:       map[string]string{"namespace": "prod", "password": "[REDACTED]"},
		User:         "alice",
		Host:         "laptop",
		Started:      t0,
		Target:       map[string]string{"context": "kind-kind"},
		CairnVersion: "v0.0.0-test",
	}
}

func sampleEvent(i int) Event {
	return Event{
		Type:     "instance.succeeded",
		Step:     "drain",
		Item:     fmt.Sprintf("ns-%d", i),
		Attempt:  1,
		Token:    fmt.Sprintf("tok-%04d", i),
		Outputs:  map[string]string{"node": fmt.Sprintf("node-%d", i), "a": "1"},
		Evidence: fmt.Sprintf("evidence-marker-%04d-zq", i),
		Data:     json.RawMessage(`{ "items": [ "a", "b" ] }`),
	}
}

// writeRun creates run id with n sample events through the public API, one
// Update each, as the engine does.
func writeRun(t testing.TB, db *DB, id string, n int) []Event {
	t.Helper()
	if err := db.CreateRun(sampleRun(id)); err != nil {
		t.Fatal(err)
	}
	var out []Event
	for i := 1; i <= n; i++ {
		e, err := db.Append(id, sampleEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// rawBolt opens the journal file with bbolt directly, to damage it the way
// an editor or a failing disk would, bypassing the journal's checks.
func rawBolt(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// runEvents2 is a run's number and the events bucket, for tests that
// damage a v2 file with rawBolt.
func runEvents2(t testing.TB, tx *bolt.Tx, id string) (*bolt.Bucket, uint32) {
	t.Helper()
	ent, err := runEntry(tx, id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return tx.Bucket(bucketEvents), ent.runNo
}

// fillRuns writes n runs of k events through the same code as CreateRun
// and Append, but many per transaction: 10,000 fsynced runs would be slow.
// Batches stay small because bbolt's commit cost grows with the number of
// buckets a transaction touches.
func fillRuns(t testing.TB, db *DB, n, k int) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 500 {
		if err := db.update(func(tx *bolt.Tx) error {
			for i := start; i < min(start+500, n); i++ {
				id := NewRunID(t0.Add(time.Duration(i) * time.Second))
				ids = append(ids, id)
				r := sampleRun(id)
				rec, _ := encodeRecord(r)
				if err := createRunTx(tx, r, rec); err != nil {
					return err
				}
				for j := 1; j <= k; j++ {
					e, _ := prepare(Event{Type: "step.done", Time: t0, Evidence: strings.Repeat("x", 100)})
					if _, err := appendTx(tx, id, e); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}
