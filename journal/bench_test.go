package journal

import (
	"encoding/json"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkAppend is one state transition as the engine records it: one
// fsynced Update holding the event and the head anchor.
func BenchmarkAppend(b *testing.B) {
	db := mustOpen(b, testPath(b), Options{})
	defer db.Close()
	if err := db.CreateRun(sampleRun("bench")); err != nil {
		b.Fatal(err)
	}
	e := sampleEvent(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Append("bench", e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawBoltUpdate is the floor for BenchmarkAppend: a bare fsynced
// bbolt Update writing a value the size of a stored event, on the same disk.
func BenchmarkRawBoltUpdate(b *testing.B) {
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{NoSync: false})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	e := sampleEvent(1)
	e.V, e.Seq, e.Time, e.Prev, e.Hash = 1, 1, t0, hashHex(nil), hashHex(nil)
	val, _ := json.Marshal(e)
	b.ReportMetric(float64(len(val)), "value-bytes")
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("events"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("events")).Put(seqKey(uint64(i+1)), val)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRuns20Of10k is `cairn runs` on a journal with 10,000 runs.
func BenchmarkRuns20Of10k(b *testing.B) {
	db := mustOpen(b, testPath(b), Options{})
	defer db.Close()
	fillRuns(b, db, 10000, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s, err := db.Runs(20); err != nil || len(s) != 20 {
			b.Fatal(len(s), err)
		}
	}
}
