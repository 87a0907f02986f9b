package journal

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// chainedOf builds the portable form of a run from a journal, as the
// mirror does: the record's JSON and the stored events.
func chainedOf(t *testing.T, db *DB, id string) Chained {
	t.Helper()
	r, err := db.Run(id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := RecordJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := db.Events(id)
	if err != nil {
		t.Fatal(err)
	}
	c := Chained{Record: rec, Source: r.Source, Events: evs, Head: Head{Hash: RootHash(rec)}}
	if n := len(evs); n > 0 {
		c.Head = Head{Seq: evs[n-1].Seq, Hash: evs[n-1].Hash}
	}
	return c
}

// A run carried over in its portable form checks offline, imports into
// another journal with the same hashes, verifies there and goes on; its
// export is the source journal's export, byte for byte.
func TestChainedRoundTrip(t *testing.T) {
	src := mustOpen(t, testPath(t), Options{})
	defer src.Close()
	r := sampleRun(NewRunID(t0))
	if err := src.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	for _, e := range []Event{{Type: "run.started", User: "ann"}, {Type: "instance.started", Step: "s", Item: "a", Token: "tok", Evidence: "é\x00"},
		{Type: "instance.succeeded", Step: "s", Item: "a", Outputs: map[string]string{"k": "v"}, Data: []byte(`{ "x": 1 }`)}} {
		if _, err := src.Append(r.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	c := chainedOf(t, src, r.ID)
	if err := c.Check("mirror", r.ID); err != nil {
		t.Fatalf("check: %v", err)
	}
	var want, got bytes.Buffer
	if err := src.Export(r.ID, &want); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteExport(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("portable export differs:\n%s\nwant:\n%s", got.String(), want.String())
	}

	dst := mustOpen(t, filepath.Join(t.TempDir(), "j2.db"), Options{})
	defer dst.Close()
	if err := dst.ImportChained(c); err != nil {
		t.Fatalf("import: %v", err)
	}
	if err := dst.Verify(r.ID); err != nil {
		t.Fatal(err)
	}
	if next, err := dst.Append(r.ID, Event{Type: "run.resumed"}); err != nil || next.Prev != c.Head.Hash {
		t.Fatalf("append after import: %+v %v", next, err)
	}
	if err := dst.ImportChained(c); !errors.Is(err, ErrRunExists) {
		t.Fatalf("second import: %v", err)
	}
}

// Every kind of damage to the portable form is found before anything is
// imported.
func TestChainedCheckFindsDamage(t *testing.T) {
	src := mustOpen(t, testPath(t), Options{})
	defer src.Close()
	r := sampleRun(NewRunID(t0))
	if err := src.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"a", "b", "c"} {
		if _, err := src.Append(r.ID, Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		damage func(*Chained)
		want   string
	}{
		"altered event":   {func(c *Chained) { c.Events[1].Type = "x" }, "seq 2: content does not match its hash"},
		"removed event":   {func(c *Chained) { c.Events = append(c.Events[:1], c.Events[2:]...) }, "event claims seq 3"},
		"removed tail":    {func(c *Chained) { c.Events = c.Events[:2] }, "head says the last event is seq 3"},
		"altered source":  {func(c *Chained) { c.Source = []byte("steps: [evil]") }, "playbook text does not match"},
		"altered record":  {func(c *Chained) { c.Record = bytes.Replace(c.Record, []byte(`"prod"`), []byte(`"dev"`), 1) }, "seq 1: prev does not match"},
		"another run's":   {func(c *Chained) { c.Record = bytes.Replace(c.Record, []byte(r.ID), []byte("other"), 1) }, `run record names id "other"`},
		"rewritten chain": {func(c *Chained) { c.Events[2].Hash = c.Head.Hash[:10] + "0000" }, "seq 3: content does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			c := chainedOf(t, src, r.ID)
			tc.damage(&c)
			err := c.Check("mirror", r.ID)
			if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check: %v, want %q", err, tc.want)
			}
			dst := mustOpen(t, filepath.Join(t.TempDir(), "j.db"), Options{})
			defer dst.Close()
			if err := dst.ImportChained(c); !errors.Is(err, ErrTampered) {
				t.Fatalf("import of a damaged run: %v", err)
			}
			if sums, _ := dst.Runs(0); len(sums) != 0 {
				t.Fatalf("a damaged run was imported: %+v", sums)
			}
		})
	}
}
