package journal

import (
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// One damaged run must not hide the others from listing, nor fail it: it
// is listed under its key, with Err saying what is wrong (D11). A run
// whose record names another id (a copy) is listed, and verified, under
// its own key (D9).
func TestRunsListDamagedRuns(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	for _, id := range []string{"r1-ok", "r2-short", "r3-garbled", "r4-copy", "r5-ok"} {
		writeRun(t, db, id, 2)
	}
	db.Close()
	rawBolt(t, path, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		if err := runs.Put([]byte("r2-short"), []byte{2, 0}); err != nil { // a 2-byte entry
			return err
		}
		v := runs.Get([]byte("r3-garbled"))
		garbled := append(append([]byte(nil), v[:5]...), 0xee, 0x01)
		if err := runs.Put([]byte("r3-garbled"), garbled); err != nil {
			return err
		}
		return runs.Put([]byte("r4-copy"), append([]byte(nil), runs.Get([]byte("r1-ok"))...))
	})
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	sums, err := ro.Runs(0)
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	var ids []string
	bad := map[string]error{}
	for _, s := range sums {
		ids = append(ids, s.Run.ID)
		if s.Err != nil {
			bad[s.Run.ID] = s.Err
			if !errors.Is(s.Err, ErrTampered) {
				t.Errorf("%s: Err %v is not ErrTampered", s.Run.ID, s.Err)
			}
		}
	}
	if strings.Join(ids, " ") != "r5-ok r4-copy r3-garbled r2-short r1-ok" {
		t.Fatalf("listed %v", ids)
	}
	if len(bad) != 3 || !strings.Contains(bad["r4-copy"].Error(), `names id "r1-ok"`) || !strings.Contains(bad["r2-short"].Error(), "2 bytes") {
		t.Errorf("damaged runs: %v", bad)
	}
	for _, s := range sums {
		if s.Run.ID == "r4-copy" && (s.Events != 2 || s.Last.Seq != 2) {
			t.Errorf("the copy's readable parts are not listed: %+v", s)
		}
	}
	// Verifying every listed run checks each key once: the copy fails under
	// its own key, the original passes.
	for _, s := range sums {
		err := ro.Verify(s.Run.ID)
		if (err != nil) != (bad[s.Run.ID] != nil) {
			t.Errorf("Verify(%s) = %v, listed with Err %v", s.Run.ID, err, bad[s.Run.ID])
		}
	}
	if err := ro.Verify("r4-copy"); err == nil || !strings.Contains(err.Error(), `run record names id "r1-ok"`) {
		t.Errorf("Verify of the copy: %v", err)
	}
	// ScanRuns goes past them too.
	n := 0
	if err := ro.ScanRuns(func(RunSummary) bool { n++; return true }); err != nil || n != 5 {
		t.Errorf("ScanRuns saw %d runs: %v", n, err)
	}
}

// The same holds reading a v1 journal in place, where the failure was
// first seen: a 2-byte key among a run's events failed every listing with
// "index out of range [7] with length 2".
func TestRunsListDamagedV1(t *testing.T) {
	for _, name := range []string{"two-byte key among the events", "record unreadable", "run copied under another id", "events bucket removed"} {
		t.Run(name, func(t *testing.T) {
			path := tamperedV1(t, name)
			ro := mustOpen(t, path, Options{ReadOnly: true})
			defer ro.Close()
			sums, err := ro.Runs(0)
			if err != nil {
				t.Fatalf("Runs: %v", err)
			}
			damaged := 0
			for _, s := range sums {
				if s.Err != nil {
					damaged++
					if ro.Verify(s.Run.ID) == nil {
						t.Errorf("%s listed as damaged (%v) but verifies", s.Run.ID, s.Err)
					}
				}
			}
			if want := len(v1RunKeys(t, path)); len(sums) != want || damaged == 0 && name != "two-byte key among the events" {
				t.Errorf("%d runs listed of %d, %d damaged", len(sums), want, damaged)
			}
		})
	}
}

func TestRunsListV1TwoByteKeyLast(t *testing.T) {
	path := v1Fixture(t)
	rawBolt(t, path, func(tx *bolt.Tx) error { return v1Bucket(tx, fxC, true).Put([]byte{0xff, 0xff}, []byte("{}")) })
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	sums, err := ro.Runs(0)
	if err != nil || len(sums) != 3 {
		t.Fatalf("Runs: %d runs, %v", len(sums), err)
	}
	for _, s := range sums {
		if (s.Run.ID == fxC) != (s.Err != nil) {
			t.Errorf("%s: Err %v", s.Run.ID, s.Err)
		}
	}
	// Migrating keeps it reported.
	mustOpen(t, path, Options{}).Close()
	if err := ro.Verify(fxC); err == nil || !strings.Contains(err.Error(), "unexpected entry ffff among the events") {
		t.Errorf("after migration: %v", err)
	}
	sums, err = ro.Runs(0)
	if err != nil || len(sums) != 3 {
		t.Fatalf("after migration: %d runs, %v", len(sums), err)
	}
	for _, s := range sums {
		if (s.Run.ID == fxC) != (s.Err != nil) {
			t.Errorf("after migration, %s: Err %v", s.Run.ID, s.Err)
		}
	}
}
