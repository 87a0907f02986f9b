package journal

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cairn-dev/cairn/journal/internal/journalv1"
)

var update = flag.Bool("update", false, "rewrite the v1 journal fixture in testdata")

// fixtureV1 is a journal written by cairn's v1 journal code (schema 1),
// gzipped: a bbolt file is mostly empty pages.
const fixtureV1 = "testdata/v1-journal.db.gz"

const fixturePlaybook = `apiVersion: cairn/v1
kind: Playbook
metadata:
  name: demo
params:
  - name: namespace
    default: prod
steps:
  - id: drain
    exec: {argv: [echo, drain]}
  - id: upgrade
    foreach: {items: [a, b]}
    exec: {argv: [echo, "{{ .item }}"]}
`

// fixtureContent is what the v1 fixture holds: a run with a playbook
// source and awkward events, an eventless run, and a run long enough to
// span several pages.
func fixtureContent() ([]Run, [][]Event) {
	a := sampleRun("20261122-022400-0aa111")
	a.Source = []byte(fixturePlaybook)
	a.Digest = hashHex(a.Source)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evA := []Event{
		{Type: "run.started", Time: at(1)},
		{Type: "instance.started", Step: "drain", Attempt: 1, Token: "tok-1", Time: at(2)},
		{Type: "instance.succeeded", Step: "drain", Attempt: 1, Outputs: map[string]string{"node": "n1", "a": "1"},
			Evidence: "drained <n1> & done", Data: json.RawMessage(`{ "items": [ "a", "b" ] }`), Time: at(3)},
		{Type: "instance.failed", Step: "upgrade", Item: "a", Attempt: 1, Error: "exit 1: tail cut mid-rune \xe2\x82",
			Time: time.Date(2026, 11, 22, 3, 24, 4, 123456789, time.FixedZone("CET", 3600))},
		{Type: "gate.approved", User: "bob", Evidence: "looks fine", Time: at(5)},
		{Type: "instance.succeeded", Step: "upgrade", Item: "b", Attempt: 2, Data: json.RawMessage("null"), Time: at(6)},
		{Type: "run.succeeded", Time: at(7)},
	}
	b := sampleRun("20261122-022500-0bb222")
	b.Source, b.Digest = nil, strings.Repeat("0", 64)
	c := sampleRun("20261122-022600-0cc333")
	var evC []Event
	for i := 1; i <= 30; i++ {
		evC = append(evC, Event{Type: "instance.succeeded", Step: fmt.Sprintf("step-%d", i),
			Evidence: fmt.Sprintf("%03d %s", i, strings.Repeat("evidence ", 11)), Time: at(100 + i)})
	}
	return []Run{a, b, c}, [][]Event{evA, nil, evC}
}

// toV1 converts through JSON: the v1 types have the same fields.
func toV1(t testing.TB, runs []Run, events [][]Event) ([]journalv1.Run, [][]journalv1.Event) {
	t.Helper()
	var r1 []journalv1.Run
	var e1 [][]journalv1.Event
	for i, r := range runs {
		var v journalv1.Run
		b, _ := json.Marshal(r)
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		r1 = append(r1, v)
		var evs []journalv1.Event
		for _, e := range events[i] {
			var v journalv1.Event
			b, _ := json.Marshal(e)
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, v)
		}
		e1 = append(e1, evs)
	}
	return r1, e1
}

// writeV1 builds a v1 journal at path with the frozen v1 writer.
func writeV1(t testing.TB, path string, runs []Run, events [][]Event) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	r1, e1 := toV1(t, runs, events)
	if err := journalv1.WriteFile(path, r1, e1); err != nil {
		t.Fatal(err)
	}
}

// v1Fixture decompresses the checked-in v1 journal into a fresh file.
func v1Fixture(t testing.TB) string {
	t.Helper()
	f, err := os.Open(fixtureV1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// v1Contents is every run of a v1 file as stored: record, head and events,
// byte for byte.
type v1RunBytes struct {
	Record, Head []byte
	Events       map[string][]byte
}

func v1Contents(t testing.TB, path string) map[string]v1RunBytes {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string]v1RunBytes{}
	if err := b.View(func(tx *bolt.Tx) error {
		if s := string(tx.Bucket([]byte("meta")).Get([]byte("schema"))); s != "1" {
			return fmt.Errorf("schema %q, want 1", s)
		}
		return tx.Bucket([]byte("runs")).ForEachBucket(func(k []byte) error {
			rb := tx.Bucket([]byte("runs")).Bucket(k)
			r := v1RunBytes{Record: bytes.Clone(rb.Get([]byte("run"))), Head: bytes.Clone(rb.Get([]byte("head"))), Events: map[string][]byte{}}
			if err := rb.Bucket([]byte("events")).ForEach(func(k, v []byte) error {
				r.Events[fmt.Sprintf("%x", k)] = bytes.Clone(v)
				return nil
			}); err != nil {
				return err
			}
			out[string(k)] = r
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestV1Fixture: with -update, the fixture is written by the journal code
// of schema 1; otherwise it checks that the frozen v1 writer
// (internal/journalv1), which the migration tests and benchmarks use to
// build v1 files, writes exactly what that code wrote.
func TestV1Fixture(t *testing.T) {
	runs, events := fixtureContent()
	if *update {
		writeFixtureV1(t, runs, events)
	}
	fixture := v1Fixture(t)
	db := mustOpen(t, fixture, Options{ReadOnly: true})
	for _, r := range runs {
		if err := db.Verify(r.ID); err != nil {
			t.Errorf("fixture run %s: %v", r.ID, err)
		}
	}
	db.Close()
	frozen := filepath.Join(t.TempDir(), "frozen.db")
	writeV1(t, frozen, runs, events)
	got, want := v1Contents(t, frozen), v1Contents(t, fixture)
	if len(want) != 3 || len(want["20261122-022600-0cc333"].Events) != 30 {
		t.Fatalf("fixture holds %d runs", len(want))
	}
	for id, w := range want {
		g := got[id]
		if !bytes.Equal(g.Record, w.Record) || !bytes.Equal(g.Head, w.Head) || len(g.Events) != len(w.Events) {
			t.Errorf("run %s: frozen writer differs from the fixture:\n record %s\n   want %s\n head %s\n want %s", id, g.Record, w.Record, g.Head, w.Head)
		}
		for k, v := range w.Events {
			if !bytes.Equal(g.Events[k], v) {
				t.Errorf("run %s event %s: frozen writer wrote\n%s\nfixture has\n%s", id, k, g.Events[k], v)
			}
		}
	}
}
