package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/journal/internal/journalv1"
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
	w := writtenBytes()
	for i := 0; i < b.N; i++ {
		if _, err := db.Append("bench", e); err != nil {
			b.Fatal(err)
		}
	}
	w.report(b)
}

// written counts the bytes this process hands to write(2) and friends
// (/proc/self/io's wchar): unlike time, it does not depend on the load.
type written int64

func writtenBytes() written {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return written(n)
		}
	}
	return -1
}

func (w written) report(b *testing.B) {
	if now := writtenBytes(); w >= 0 && now >= 0 {
		b.ReportMetric(float64(now-w)/float64(b.N), "written-B/op")
	}
}

// BenchmarkAppendV1 is BenchmarkAppend with the v1 layout, written by the
// frozen v1 writer the way v1's Append did: bbolt opened for the one
// fsynced Update.
func BenchmarkAppendV1(b *testing.B) {
	path := testPath(b)
	writeV1(b, path, []Run{sampleRun("bench")}, [][]Event{nil})
	var e1 journalv1.Event
	_, evs := toV1(b, []Run{sampleRun("x")}, [][]Event{{sampleEvent(1)}})
	e1 = evs[0][0]
	b.ResetTimer()
	w := writtenBytes()
	for i := 0; i < b.N; i++ {
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: txTimeout})
		if err != nil {
			b.Fatal(err)
		}
		if err := bdb.Update(func(tx *bolt.Tx) error {
			_, err := journalv1.Append(tx, "bench", e1)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		bdb.Close()
	}
	w.report(b)
}

// storedSample is sampleEvent(1) as Append stores it.
func storedSample(b testing.TB) []byte {
	e, err := prepare(sampleEvent(1))
	if err != nil {
		b.Fatal(err)
	}
	e.Seq, e.Prev = 1, hashHex(nil)
	e.Hash, _ = eventHash(e)
	return encodeEvent(e, make([]byte, hashLen))
}

// BenchmarkRawBoltUpdate is the floor for BenchmarkAppend: a bare fsynced
// bbolt Update, the handle held open, writing a value the size of a stored
// event, on the same disk.
func BenchmarkRawBoltUpdate(b *testing.B) {
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{NoSync: false})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	val := storedSample(b)
	b.ReportMetric(float64(len(val)), "value-bytes")
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("events"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	w := writtenBytes()
	for i := 0; i < b.N; i++ {
		if err := bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("events")).Put(eventKey(1, uint32(i+1)), val)
		}); err != nil {
			b.Fatal(err)
		}
	}
	w.report(b)
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

// seedRun is one of the runs `make bench` seeds: 8 events with ~100
// bytes of evidence each.
func seedRun(i int, base time.Time) (Run, []Event) {
	at := base.Add(time.Duration(i) * time.Second)
	r := Run{ID: NewRunID(at), Playbook: "seeded", PlaybookFile: "builtin:seeded",
		Digest: strings.Repeat("0", 64), Params: map[string]string{"ns": "app"}, User: "bench", Host: "bench", Started: at}
	evs := make([]Event, 8)
	for k := range evs {
		evs[k] = Event{Type: "instance.succeeded", Step: fmt.Sprintf("step-%d", k+1), Time: at,
			Evidence: fmt.Sprintf("%-100.100s", fmt.Sprintf("deployment.apps/app-%d-%d successfully rolled out; 2/2 replicas ready, revision %08x", i, k, i*8+k))}
	}
	return r, evs
}

// BenchmarkJournalSize seeds 10,000 runs of 8 events, one transaction per
// run as `make bench` does, with the v1 writer (frozen) and this one, and
// reports the file size per run. Run it with -benchtime 1x.
func BenchmarkJournalSize(b *testing.B) {
	const runs = 10000
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	b.Run("v1", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			path := filepath.Join(b.TempDir(), "v1.db")
			rs, evs := make([]Run, runs), make([][]Event, runs)
			for i := range rs {
				rs[i], evs[i] = seedRun(i, base)
			}
			writeV1(b, path, rs, evs)
			reportSize(b, path, runs)
			// Then the first writer migrates it.
			start := time.Now()
			db := mustOpen(b, path, Options{})
			b.ReportMetric(time.Since(start).Seconds(), "migrate-s")
			db.Close()
		}
	})
	b.Run("v2", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			path := filepath.Join(b.TempDir(), "v2.db")
			db := mustOpen(b, path, Options{})
			for i := 0; i < runs; i++ {
				if err := db.ImportRun(seedRun(i, base)); err != nil {
					b.Fatal(err)
				}
			}
			db.Close()
			reportSize(b, path, runs)
		}
	})
}

func reportSize(b *testing.B, path string, runs int) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(runs), "file-bytes/run")
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
}
