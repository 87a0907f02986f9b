package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The compact codecs list fields by hand: a field added to Event or Run
// must be added there too, or it would be silently dropped.
func TestCodecsCoverEveryField(t *testing.T) {
	// Seq, Prev and Hash are not stored (the key and the chain give them).
	if n := reflect.TypeOf(Event{}).NumField(); n != 15 {
		t.Errorf("Event has %d fields: add the new one to encodeEvent, decodeCompactEvent and this count", n)
	}
	full := Event{V: 2, Seq: 7, Time: t0.Add(123456789), Type: "t", Step: "s", Item: "i", Attempt: -3, Token: "k",
		Outputs: map[string]string{"b": "2", "a": ""}, Evidence: "e\x00\xff", Error: "err", User: "u", Data: json.RawMessage(`{"x":1}`),
		Prev: hashHex([]byte("p"))}
	full.Hash, _ = eventHash(full)
	sum := bytes.Repeat([]byte{7}, hashLen)
	got, err := compactEvent(7, encodeEvent(full, sum), full.Prev)
	full.Hash = strings.Repeat("07", hashLen)
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Errorf("event round trip:\n got %+v\nwant %+v (%v)", got, full, err)
	}

	// record mirrors Run: same fields, order and JSON names, but the source.
	rt, rect := reflect.TypeOf(Run{}), reflect.TypeOf(record{})
	var want []string
	for i := 0; i < rt.NumField(); i++ {
		if f := rt.Field(i); f.Name != "Source" {
			want = append(want, f.Name+" "+string(f.Tag))
		} else {
			want = append(want, "SourceSHA256 "+`json:"sourceSha256,omitempty"`)
		}
	}
	var have []string
	for i := 0; i < rect.NumField(); i++ {
		have = append(have, rect.Field(i).Name+" "+string(rect.Field(i).Tag))
	}
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Errorf("record does not mirror Run:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
	r := sampleRun("id")
	for _, digest := range []string{r.Digest, "not-hex", strings.ToUpper(r.Digest), ""} {
		r.Digest = digest
		for _, params := range []map[string]string{nil, {}, {"a": "b"}} {
			r.Params = params
			rec := recordOf(r, hashHex(r.Source))
			b, err := encodeRecordBin(rec)
			back, err2 := decodeRecordBin(b)
			j1, _ := json.Marshal(rec)
			j2, _ := json.Marshal(back)
			if err != nil || err2 != nil || !bytes.Equal(j1, j2) {
				t.Errorf("record round trip (digest %q, params %v): %s\n%s (%v %v)", digest, params, j1, j2, err, err2)
			}
		}
	}
}

// A run started in another zone is stored, and read back, in UTC.
func TestRunStartedStoredInUTC(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	r := sampleRun("r1")
	r.Started = t0.In(time.FixedZone("X", 5*3600))
	if err := db.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	got, err := db.Run("r1")
	if err != nil || !got.Started.Equal(r.Started) || got.Started.Location() != time.UTC {
		t.Fatalf("Started %v (%v)", got.Started, err)
	}
}

// Whatever bytes a value holds, decoding reports an error, never panics.
func FuzzDecodeStored(f *testing.F) {
	e, _ := prepare(sampleEvent(1))
	e.Seq, e.Prev = 1, hashHex(nil)
	e.Hash, _ = eventHash(e)
	f.Add(encodeEvent(e, make([]byte, hashLen)))
	rec, _ := encodeRecord(sampleRun("r"))
	f.Add(rec.stored)
	f.Add(encodeHead(3, make([]byte, hashLen)))
	f.Add([]byte{formatCompact, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, sum, err := decodeCompactEvent(b); err == nil {
			if len(sum) != hashLen {
				t.Fatalf("hash of %d bytes", len(sum))
			}
			_, _ = eventHash(e)
		}
		if r, err := decodeRecordBin(b); err == nil {
			_, _ = json.Marshal(r)
		}
		_, _ = decodeHead(b)
		_, _ = decodeEntry(b)
		_ = storedHash(b)
	})
}

// Caps: a record, a playbook text or an event over MaxRecordSize is refused
// with ErrTooLarge, and nothing is written (D14).
func TestSizeCaps(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	big := strings.Repeat("x", MaxRecordSize+1)
	r := sampleRun("big-source")
	r.Source = []byte(big)
	if err := db.CreateRun(r); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "playbook source is 4194305 bytes") {
		t.Errorf("large source: %v", err)
	}
	r = sampleRun("big-params")
	r.Params = map[string]string{"p": big}
	if err := db.CreateRun(r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large record: %v", err)
	}
	if err := db.ImportRun(r, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large record imported: %v", err)
	}
	writeRun(t, db, "r1", 1)
	if _, err := db.Append("r1", Event{Type: "x", Evidence: big}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "event is") {
		t.Errorf("large event: %v", err)
	}
	// Just under the cap is fine: a 2 MB playbook is stored once.
	r = sampleRun("two-mb")
	r.Source = bytes.Repeat([]byte("# a long playbook line\n"), 2<<20/23)
	if err := db.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	runs, _ := db.Runs(0)
	if len(runs) != 2 {
		t.Errorf("%d runs: a refused run left something behind", len(runs))
	}
	if evs, _ := db.Events("r1"); len(evs) != 1 {
		t.Errorf("refused event written: %d events", len(evs))
	}
}

// A 2 MB playbook and 400 events: the text is written once, not once per
// event (v1 wrote 1.2 GB for this).
func TestLargePlaybookWrittenOnce(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	defer db.Close()
	r := sampleRun("big")
	r.Source = bytes.Repeat([]byte("# a long playbook line, 2 MB of them\n"), 2<<20/37)
	if err := db.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	w := writtenBytes()
	for i := 1; i <= 400; i++ {
		if _, err := db.Append("big", sampleEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if w >= 0 {
		per := (writtenBytes() - w) / 400
		if per > 64<<10 {
			t.Errorf("each Append wrote %d bytes", per)
		}
		t.Logf("each Append wrote %d bytes", per)
	}
	got, err := db.Run("big")
	if err != nil || !bytes.Equal(got.Source, r.Source) {
		t.Fatalf("source: %v", err)
	}
	if err := db.Verify("big"); err != nil {
		t.Fatal(err)
	}
}

// normalize's shortcut for valid UTF-8 gives what the JSON round trip
// gives.
func TestNormalizeShortcut(t *testing.T) {
	for _, e := range []Event{
		sampleEvent(1),
		{Type: "x", Data: json.RawMessage("null"), Outputs: map[string]string{}},
		{Type: "x", Data: json.RawMessage("{\n \"html\": \"<b>&</b>\", \"u\": \"\\u2028\"\n}"), Evidence: "line\u2028sep <&>"},
		{Type: "x", Data: json.RawMessage(" [1, 2.50, true] ")},
		{Type: "x", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))},
	} {
		e.Time = e.Time.UTC()
		fast, err1 := normalize(e)
		slow, err2 := viaJSON(e)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(fast, slow) {
			t.Errorf("normalize(%+v)\n = %+v (%v)\nJSON %+v (%v)", e, fast, err1, slow, err2)
		}
	}
	if _, err := normalize(Event{Data: json.RawMessage("{not json")}); err == nil {
		t.Error("invalid Data accepted")
	}
}
