package journal

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestImportRunChainsLikeAppend(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "j.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := Run{ID: NewRunID(at), Playbook: "p", Started: at}
	evs := []Event{{Type: "a", Time: at}, {Type: "b", Step: "s", Time: at.Add(time.Second)}, {Type: "c", Time: at.Add(2 * time.Second)}}
	if err := db.ImportRun(run, evs); err != nil {
		t.Fatal(err)
	}
	if err := db.Verify(run.ID); err != nil {
		t.Fatalf("an imported run must verify: %v", err)
	}
	got, err := db.Events(run.ID)
	if err != nil || len(got) != 3 || got[1].Seq != 2 || got[1].Step != "s" || got[2].Prev != got[1].Hash {
		t.Fatalf("events %+v, %v", got, err)
	}
	// An import extends like any run: the next Append chains on.
	next, err := db.Append(run.ID, Event{Type: "d"})
	if err != nil || next.Seq != 4 || next.Prev != got[2].Hash {
		t.Fatalf("append after import: %+v %v", next, err)
	}
	if err := db.Verify(run.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.ImportRun(run, nil); !errors.Is(err, ErrRunExists) {
		t.Fatalf("importing an existing run: %v", err)
	}
}
