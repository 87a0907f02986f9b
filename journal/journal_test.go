package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestRoundTripAcrossReopen(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	want := writeRun(t, db, "20261122-022400-aaaaaa", 5)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, fi := range []string{path, filepath.Dir(path)} {
		st, err := os.Stat(fi)
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o600)
		if st.IsDir() {
			wantMode = 0o700
		}
		if st.Mode().Perm() != wantMode {
			t.Errorf("%s mode %v, want %v", fi, st.Mode().Perm(), wantMode)
		}
	}

	db = mustOpen(t, path, Options{ReadOnly: true})
	defer db.Close()
	r, err := db.Run("20261122-022400-aaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, sampleRun("20261122-022400-aaaaaa")) {
		t.Errorf("run = %+v", r)
	}
	got, err := db.Events("20261122-022400-aaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events after reopen differ:\n got %+v\nwant %+v", got, want)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.V != SchemaVersion || e.Time.IsZero() || e.Item != fmt.Sprintf("ns-%d", i+1) {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if string(got[0].Data) != `{"items":["a","b"]}` {
		t.Errorf("Data not compacted: %s", got[0].Data)
	}
	last, ok, err := db.LastEvent("20261122-022400-aaaaaa")
	if err != nil || !ok || !reflect.DeepEqual(last, want[4]) {
		t.Errorf("LastEvent = %+v %v %v", last, ok, err)
	}
	if err := db.Verify("20261122-022400-aaaaaa"); err != nil {
		t.Errorf("Verify clean run: %v", err)
	}
}

func TestHashChain(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	evs := writeRun(t, db, "r1", 4)
	var rec []byte
	if err := db.view(func(tx *bolt.Tx, _ int) error {
		ent, err := runEntry(tx, "r1")
		if err != nil {
			return err
		}
		rec, err = ent.hashed()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if evs[0].Prev != hashHex(rec) {
		t.Errorf("seq 1 prev %s, want hash of run record %s", evs[0].Prev, hashHex(rec))
	}
	for i, e := range evs {
		if i > 0 && e.Prev != evs[i-1].Hash {
			t.Errorf("seq %d prev %s != previous hash %s", e.Seq, e.Prev, evs[i-1].Hash)
		}
		if h, _ := eventHash(e); h != e.Hash || len(e.Hash) != 64 {
			t.Errorf("seq %d hash %q, recomputed %q", e.Seq, e.Hash, h)
		}
	}
}

func TestCreateAndAppendErrors(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	writeRun(t, db, "r1", 1)
	if err := db.CreateRun(sampleRun("r1")); !errors.Is(err, ErrRunExists) {
		t.Errorf("duplicate CreateRun: %v", err)
	}
	if _, err := db.Append("nope", sampleEvent(1)); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Append to missing run: %v", err)
	}
	if _, err := db.Run("nope"); !errors.Is(err, ErrRunNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Run missing: %v", err)
	}
	if err := db.Verify("nope"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Verify missing: %v", err)
	}
	if err := db.CreateRun(Run{}); err == nil {
		t.Error("CreateRun with empty id succeeded")
	}
	if _, ok, err := db.LastEvent("r1"); !ok || err != nil {
		t.Errorf("LastEvent: %v %v", ok, err)
	}
	if err := db.CreateRun(sampleRun("empty")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.LastEvent("empty"); ok || err != nil {
		t.Errorf("LastEvent of eventless run: %v %v", ok, err)
	}
	if err := db.Verify("empty"); err != nil {
		t.Errorf("Verify eventless run: %v", err)
	}
}

// Appended events must re-encode to their stored bytes or Verify would flag
// them; awkward input is normalised instead.
func TestAppendNormalizes(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	writeRun(t, db, "r1", 0)
	odd := []Event{
		{Type: "x", Evidence: "tail cut mid-rune \xe2\x82", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))},
		{Type: "x", Data: json.RawMessage("null")},
		{Type: "x", Data: json.RawMessage("{\n \"html\": \"<b>&</b>\"\n}"), Outputs: map[string]string{}},
		{Type: "x", Seq: 99, V: 7, Prev: "bogus", Hash: "bogus"},
	}
	for _, e := range odd {
		if _, err := db.Append("r1", e); err != nil {
			t.Fatalf("Append(%+v): %v", e, err)
		}
	}
	if err := db.Verify("r1"); err != nil {
		t.Fatal(err)
	}
	evs, _ := db.Events("r1")
	if evs[0].Time.Location() != time.UTC || evs[3].Seq != 4 || evs[3].V != SchemaVersion {
		t.Errorf("events = %+v", evs)
	}
	if _, err := db.Append("r1", Event{Type: "x", Data: json.RawMessage("{not json")}); err == nil {
		t.Error("Append with invalid Data succeeded")
	}
}

func TestRunsOrderLimitAndScan(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	var ids []string
	for i := 0; i < 5; i++ {
		id := NewRunID(t0.Add(time.Duration(i) * time.Minute))
		ids = append(ids, id)
		writeRun(t, db, id, i) // run i has i events
	}
	all, err := db.Runs(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("Runs(0) = %d runs", len(all))
	}
	for i, s := range all {
		want := 4 - i
		if s.Run.ID != ids[want] || s.Events != uint64(want) {
			t.Errorf("Runs[%d] = %s with %d events, want %s with %d", i, s.Run.ID, s.Events, ids[want], want)
		}
		if want > 0 && s.Last.Seq != uint64(want) {
			t.Errorf("Runs[%d].Last.Seq = %d", i, s.Last.Seq)
		}
		if want == 0 && !reflect.DeepEqual(s.Last, Event{}) {
			t.Errorf("eventless run has Last %+v", s.Last)
		}
	}
	two, _ := db.Runs(2)
	if len(two) != 2 || two[0].Run.ID != ids[4] || two[1].Run.ID != ids[3] {
		t.Errorf("Runs(2) = %v", two)
	}
	var seen []string
	if err := db.ScanRuns(func(s RunSummary) bool {
		seen = append(seen, s.Run.ID)
		return len(seen) < 3
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []string{ids[4], ids[3], ids[2]}) {
		t.Errorf("ScanRuns stopped after %v", seen)
	}
	// fn runs outside the read transaction, so it may write (resume does).
	if err := db.ScanRuns(func(s RunSummary) bool {
		_, err := db.Append(s.Run.ID, Event{Type: "run.resumed"})
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.Runs(1); s[0].Last.Type != "run.resumed" {
		t.Errorf("append from ScanRuns callback not seen: %+v", s[0].Last)
	}
}

// Listing decodes one record and one event per run, so it must stay quick
// with 10,000 runs; the bound is loose to avoid flakiness on slow machines.
func TestRunsManyRuns(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	ids := fillRuns(t, db, 10000, 3)
	top, err := db.Runs(20)
	if err != nil {
		t.Fatal(err)
	}
	all, err := db.Runs(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 20 || len(all) != 10000 || top[0].Run.ID != ids[len(ids)-1] || all[9999].Run.ID != ids[0] {
		t.Fatalf("got %d/%d runs, first %s", len(top), len(all), top[0].Run.ID)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Run.ID <= all[i].Run.ID || all[i].Events != 3 {
			t.Fatalf("Runs not newest first at %d: %s then %s", i, all[i-1].Run.ID, all[i].Run.ID)
		}
	}
}

// checkExport verifies an export offline, the way someone holding only the
// file would: the first event chains to the sha256 of the run line's
// record, each event's hash is the sha256 of its JSON with "hash" empty and
// the next one's prev, the source matches the record's sourceSha256, and
// the head names the last event. It returns the events.
func checkExport(raw []byte) ([]Event, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 16<<20)
	var (
		evs      []Event
		prev     string
		rec      map[string]any
		headSeen bool
	)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			Run    json.RawMessage `json:"run"`
			Source []byte          `json:"source"`
			Event  json.RawMessage `json:"event"`
			Head   *head           `json:"head"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		switch {
		case headSeen:
			return nil, fmt.Errorf("line %d after the head", n)
		case n == 1 && line.Run != nil:
			prev = hashHex(line.Run)
			if err := json.Unmarshal(line.Run, &rec); err != nil {
				return nil, err
			}
		case n == 1:
			return nil, fmt.Errorf("line 1 is not the run")
		case line.Source != nil:
			if want, _ := rec["sourceSha256"].(string); hashHex(line.Source) != want {
				return nil, fmt.Errorf("source does not match the record's sourceSha256 %q", want)
			}
		case line.Event != nil:
			var e Event
			if err := json.Unmarshal(line.Event, &e); err != nil {
				return nil, err
			}
			if sum, _ := eventHash(e); sum != e.Hash || e.Prev != prev || e.Seq != uint64(len(evs)+1) {
				return nil, fmt.Errorf("event %d does not verify", e.Seq)
			}
			prev = e.Hash
			evs = append(evs, e)
		case line.Head != nil:
			headSeen = true
			if line.Head.Seq != uint64(len(evs)) || line.Head.Hash != prev {
				return nil, fmt.Errorf("head %+v does not name the last event", *line.Head)
			}
		default:
			return nil, fmt.Errorf("line %d has the wrong shape: %s", n, sc.Text())
		}
	}
	if !headSeen {
		return nil, fmt.Errorf("no head line: the export is cut short")
	}
	return evs, nil
}

func TestExportJSONLines(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	evs := writeRun(t, db, "r1", 3)
	var buf bytes.Buffer
	if err := db.Export("r1", &buf); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 6 {
		t.Errorf("export has %d lines, want run, source, 3 events and head:\n%s", n, buf.Bytes())
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(`{"run":{"id":"r1",`)) {
		t.Errorf("export does not start with the run:\n%s", buf.Bytes())
	}
	got, err := checkExport(buf.Bytes())
	if err != nil || !reflect.DeepEqual(got, evs) {
		t.Fatalf("export does not verify offline (%v) or its events differ:\n%s", err, buf.Bytes())
	}
	// Offline checking notices a changed byte and a cut tail.
	changed := bytes.Replace(buf.Bytes(), []byte("evidence-marker-0002"), []byte("evidence-marker-0009"), 1)
	cut := buf.Bytes()[:bytes.LastIndex(buf.Bytes(), []byte(`{"event"`))]
	for name, b := range map[string][]byte{"changed": changed, "cut": cut} {
		if _, err := checkExport(b); err == nil {
			t.Errorf("%s export verifies offline", name)
		}
	}
	if err := db.Export("nope", &buf); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Export missing run: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	t.Setenv("HOME", "/home/alice")
	if p, err := DefaultPath(); err != nil || p != "/xdg/state/cairn/journal.db" {
		t.Errorf("with XDG_STATE_HOME: %q %v", p, err)
	}
	for _, v := range []string{"", "relative/dir"} {
		t.Setenv("XDG_STATE_HOME", v)
		if p, err := DefaultPath(); err != nil || p != "/home/alice/.local/state/cairn/journal.db" {
			t.Errorf("XDG_STATE_HOME=%q: %q %v", v, p, err)
		}
	}
}

func TestNewRunID(t *testing.T) {
	re := regexp.MustCompile(`^20261122-022400-[0-9a-f]{6}$`)
	local := t0.In(time.FixedZone("X", -5*3600))
	a, b := NewRunID(local), NewRunID(t0)
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("ids %q %q", a, b)
	}
	if later := NewRunID(t0.Add(time.Second)); later <= a || later <= b {
		t.Errorf("%q does not sort after %q", later, a)
	}
	// Within one second, the millisecond orders them.
	prev := NewRunID(t0)
	for ms := 1; ms < 1000; ms += 37 {
		id := NewRunID(t0.Add(time.Duration(ms) * time.Millisecond))
		if !re.MatchString(id) || id <= prev {
			t.Fatalf("%q (+%dms) does not sort after %q", id, ms, prev)
		}
		prev = id
	}
}

// The engine redacts; the journal must add nothing of its own, and in
// particular not the command line, which is where secrets get typed.
func TestNoSecretsAdded(t *testing.T) {
	const canary = "s3cr3t-canary"
	args := os.Args
	os.Args = append([]string{"cairn", "run", "-p", "password=" + canary}, args[1:]...)
	t.Cleanup(func() { os.Args = args })
	t.Setenv("CAIRN_TEST_SECRET", canary)

	path := testPath(t)
	db := mustOpen(t, path, Options{})
	owner, err := os.ReadFile(ownerPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(owner, []byte(canary)) || !bytes.Contains(owner, []byte(`"cairn run ..."`)) {
		t.Errorf("owner record %s", owner)
	}
	writeRun(t, db, "r1", 2)
	if _, err := db.Append("r1", Event{Type: "x", Error: "login failed for token=[REDACTED]"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(canary)) {
		t.Error("journal file contains the canary")
	}
	// Proves the scan looks at real content: redacted values are there.
	if !bytes.Contains(raw, []byte("password\x0a[REDACTED]")) || !bytes.Contains(raw, []byte("token=[REDACTED]")) {
		t.Error("redacted values not found in the raw file")
	}
	db = mustOpen(t, path, Options{ReadOnly: true})
	defer db.Close()
	if r, _ := db.Run("r1"); r.Params["password"] != "[REDACTED]" {
		t.Errorf("params = %v", r.Params)
	}
}

// Parallel foreach instances append to one run at once; the chain must stay
// contiguous because each Append reads the head inside its own Update.
func TestConcurrentAppends(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	writeRun(t, db, "r1", 0)
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 10; i++ {
				if _, err := db.Append("r1", sampleEvent(g*10+i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if evs, _ := db.Events("r1"); len(evs) != 40 {
		t.Fatalf("%d events", len(evs))
	}
	if err := db.Verify("r1"); err != nil {
		t.Fatal(err)
	}
}
