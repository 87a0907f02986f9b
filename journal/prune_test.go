package journal

import (
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// DeleteRuns removes exactly the runs chosen, with their events, and the
// playbook text once no run refers to it; the others still verify.
func TestDeleteRunsRemovesOnlyThoseChosen(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	defer db.Close()
	for _, id := range []string{"r1", "r2", "r3"} {
		writeRun(t, db, id, 3)
	}
	removed, err := db.DeleteRuns(func(s RunSummary) bool { return s.Run.ID != "r2" })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0].Run.ID != "r3" || removed[1].Run.ID != "r1" || removed[0].Events != 3 {
		t.Fatalf("removed %+v, want r3 and r1, newest first, with their summaries", removed)
	}
	for _, id := range []string{"r1", "r3"} {
		if _, err := db.Run(id); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("run %s after removal: %v", id, err)
		}
	}
	if err := db.Verify("r2"); err != nil {
		t.Fatalf("the kept run: %v", err)
	}
	if r, err := db.Run("r2"); err != nil || len(r.Source) == 0 {
		t.Fatalf("the kept run's playbook text: %v", err)
	}
	counts := func() (events, sources int) {
		db.Close()
		rawBolt(t, path, func(tx *bolt.Tx) error {
			events = tx.Bucket(bucketEvents).Stats().KeyN
			sources = tx.Bucket(bucketSources).Stats().KeyN
			return nil
		})
		return
	}
	if ev, src := counts(); ev != 4 || src != 1 {
		t.Fatalf("%d event keys and %d playbook texts left, want 4 (r2's 3 events and head) and 1", ev, src)
	}
	db = mustOpen(t, path, Options{})
	if _, err := db.DeleteRuns(func(RunSummary) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if ev, src := counts(); ev != 0 || src != 0 {
		t.Fatalf("%d event keys and %d playbook texts left after removing every run", ev, src)
	}
	db = mustOpen(t, path, Options{})
	defer db.Close()
	writeRun(t, db, "r4", 1) // the journal is still writable, run numbers too
	if err := db.Verify("r4"); err != nil {
		t.Fatal(err)
	}
}

// Nothing chosen: nothing removed, and a read-only journal refuses.
func TestDeleteRunsNoneAndReadOnly(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	writeRun(t, db, "r1", 2)
	removed, err := db.DeleteRuns(func(RunSummary) bool { return false })
	if err != nil || len(removed) != 0 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	db.Close()
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	if _, err := ro.DeleteRuns(func(RunSummary) bool { return true }); err == nil {
		t.Fatal("a read-only journal removed runs")
	}
}
