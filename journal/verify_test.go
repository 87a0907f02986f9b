package journal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const runA = "20261122-022400-aaaaaa"

// journalFile writes a closed journal holding runA with n events.
func journalFile(t *testing.T, n int) (string, []Event) {
	t.Helper()
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	evs := writeRun(t, db, runA, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, evs
}

func verifyProblems(t *testing.T, path string) (*VerifyError, []Event) {
	t.Helper()
	db := mustOpen(t, path, Options{ReadOnly: true})
	defer db.Close()
	evs, _ := db.Events(runA)
	err := db.Verify(runA)
	if err == nil {
		return nil, evs
	}
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
		t.Fatalf("Verify returned %T %v, want *VerifyError", err, err)
	}
	return ve, evs
}

func hasProblem(ve *VerifyError, seq uint64, substr string) bool {
	for _, p := range ve.Problems {
		if p.Seq == seq && strings.Contains(p.What, substr) {
			return true
		}
	}
	return false
}

// flipEach flips one byte inside every copy of marker in the file, one copy
// at a time, and hands each damaged file to check. bbolt copies pages on
// write, so stale copies of a record sit in free pages; a flip there must
// change nothing, which check has to accept.
func flipEach(t *testing.T, path, marker string, check func(damaged string) bool) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var detected, copies int
	for off := 0; ; {
		i := bytes.Index(orig[off:], []byte(marker))
		if i < 0 {
			break
		}
		pos := off + i + len(marker)/2
		off = pos
		copies++
		damaged := filepath.Join(t.TempDir(), "journal.db")
		b := bytes.Clone(orig)
		b[pos] ^= 0x01
		if err := os.WriteFile(damaged, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if check(damaged) {
			detected++
		}
	}
	if copies == 0 || detected == 0 {
		t.Fatalf("marker %q: %d copies in the file, %d flips detected", marker, copies, detected)
	}
	t.Logf("marker %q: %d copies in the file, %d flips detected (the rest hit free pages)", marker, copies, detected)
}

func TestVerifyFlippedEventByte(t *testing.T) {
	path, want := journalFile(t, 6)
	flipEach(t, path, "evidence-marker-0003-zq", func(damaged string) bool {
		ve, got := verifyProblems(t, damaged)
		if ve == nil {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify passed but the events changed")
			}
			return false
		}
		if !hasProblem(ve, 3, "altered") {
			t.Errorf("problems do not name seq 3: %v", ve)
		}
		if !strings.Contains(ve.Error(), "seq 3:") {
			t.Errorf("message does not name seq 3: %v", ve)
		}
		return true
	})
}

func TestVerifyFlippedRunRecordByte(t *testing.T) {
	for _, n := range []int{0, 3} {
		t.Run(fmt.Sprintf("%d events", n), func(t *testing.T) {
			path, _ := journalFile(t, n)
			flipEach(t, path, "builtin:demo", func(damaged string) bool {
				ve, _ := verifyProblems(t, damaged)
				if ve == nil {
					db := mustOpen(t, damaged, Options{ReadOnly: true})
					defer db.Close()
					if r, err := db.Run(runA); err != nil || !reflect.DeepEqual(r, sampleRun(runA)) {
						t.Errorf("Verify passed but the run record changed: %+v %v", r, err)
					}
					return false
				}
				if !strings.Contains(ve.Error(), "run record") {
					t.Errorf("message does not blame the run record: %v", ve)
				}
				return true
			})
		})
	}
}

// A value that decodes to the same event but is not the bytes Append wrote
// (here an over-long varint for the evidence length) passes the hash
// check; only the byte-exact re-encoding check catches it.
func TestVerifyNonCanonicalEncoding(t *testing.T) {
	path, evs := journalFile(t, 3)
	rawBolt(t, path, func(tx *bolt.Tx) error {
		eb, runNo := runEvents2(t, tx, runA)
		e := evs[1]
		sum, _ := hex.DecodeString(e.Hash)
		v := encodeEvent(e, sum)
		marker := append([]byte{tagEvidence, byte(len(e.Evidence))}, e.Evidence...)
		i := bytes.Index(v, marker)
		if i < 0 {
			t.Fatal("evidence not found in the stored event")
		}
		long := append([]byte{tagEvidence, byte(len(e.Evidence)) | 0x80, 0}, e.Evidence...)
		v = append(append(bytes.Clone(v[:i]), long...), v[i+len(marker):]...)
		if got, _, err := decodeCompactEvent(v); err != nil || got.Evidence != e.Evidence {
			t.Fatalf("the doctored value does not decode the same: %+v %v", got, err)
		}
		return eb.Put(eventKey(runNo, 2), v)
	})
	ve, _ := verifyProblems(t, path)
	if ve == nil || !hasProblem(ve, 2, "not as written") || len(ve.Problems) != 1 {
		t.Fatalf("non-canonical encoding not caught: %v", ve)
	}
}

func TestVerifyRemovedEvent(t *testing.T) {
	cases := []struct {
		name   string
		remove uint32
		want   func(*VerifyError) bool
	}{
		{"middle", 3, func(ve *VerifyError) bool {
			return hasProblem(ve, 3, "missing") && hasProblem(ve, 4, "chained to seq 2")
		}},
		{"last", 5, func(ve *VerifyError) bool { return hasProblem(ve, 5, "head anchor") }},
		{"first", 1, func(ve *VerifyError) bool {
			return hasProblem(ve, 1, "missing") && hasProblem(ve, 2, "chained to the run record")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, _ := journalFile(t, 5)
			rawBolt(t, path, func(tx *bolt.Tx) error {
				eb, runNo := runEvents2(t, tx, runA)
				return eb.Delete(eventKey(runNo, c.remove))
			})
			ve, _ := verifyProblems(t, path)
			if ve == nil || !c.want(ve) {
				t.Fatalf("removal of seq %d not reported as expected: %v", c.remove, ve)
			}
			// A damaged chain must not be extended.
			db := mustOpen(t, path, Options{})
			defer db.Close()
			if _, err := db.Append(runA, Event{Type: "x"}); c.name == "last" && !errors.Is(err, ErrTampered) {
				t.Errorf("Append after removing the last event: %v", err)
			}
		})
	}
}

// putEvent stores e as Append would, with whatever hash e carries.
func putEvent(t *testing.T, path string, e Event) {
	rawBolt(t, path, func(tx *bolt.Tx) error {
		eb, runNo := runEvents2(t, tx, runA)
		sum, err := hex.DecodeString(e.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return eb.Put(eventKey(runNo, uint32(e.Seq)), encodeEvent(e, sum))
	})
}

// Rewriting an event together with its hash is caught by the next event,
// whose hash no longer matches when chained to it; the last event is
// covered by the head anchor.
func TestVerifyRehashedEvent(t *testing.T) {
	for _, seq := range []uint64{2, 4} {
		path, evs := journalFile(t, 4)
		e := evs[seq-1]
		e.Evidence = "forged"
		e.Hash, _ = eventHash(e)
		putEvent(t, path, e)
		ve, _ := verifyProblems(t, path)
		if ve == nil || (seq == 2 && !hasProblem(ve, 3, "chained to seq 2")) || (seq == 4 && !hasProblem(ve, 4, "head anchor")) {
			t.Errorf("forged seq %d: %v", seq, ve)
		}
		if ve != nil && seq == 2 && hasProblem(ve, 2, "") {
			t.Errorf("the forged event itself is consistent, yet blamed: %v", ve)
		}
	}
}

// An altered event is blamed alone: the next one still chains to the hash
// it was written with.
func TestVerifyAlteredEventAlone(t *testing.T) {
	path, evs := journalFile(t, 4)
	e := evs[1]
	e.Evidence = "altered"
	putEvent(t, path, e) // with its original hash
	ve, _ := verifyProblems(t, path)
	if ve == nil || len(ve.Problems) != 1 || !hasProblem(ve, 2, "altered") {
		t.Fatalf("altered seq 2: %v", ve)
	}
}

// Random single-byte damage anywhere past the meta pages must never crash
// cairn, and whatever still verifies must read back exactly as written.
// Meta pages are left out: bbolt falls back to the previous meta when one is
// damaged, which is a consistent older state that no chain can tell apart.
func TestRandomDamageNeverPanics(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	want := map[string][]Event{}
	for _, id := range []string{"r1", "r2", "r3"} {
		want[id] = writeRun(t, db, id, 15)
	}
	db.Close()
	orig, _ := os.ReadFile(path)
	const page = 4096
	rng := rand.New(rand.NewSource(1))
	var undetected, failedOpen int
	for i := 0; i < 300; i++ {
		b := bytes.Clone(orig)
		b[2*page+rng.Intn(len(b)-2*page)] ^= byte(1 << rng.Intn(8))
		damaged := filepath.Join(t.TempDir(), "journal.db")
		os.WriteFile(damaged, b, 0o600)
		if !damagedFileIsSafe(t, damaged, want) {
			undetected++
		}
	}
	for _, n := range []int{len(orig) / 2, 3 * page, 2*page + 100} {
		damaged := filepath.Join(t.TempDir(), "journal.db")
		os.WriteFile(damaged, orig[:n], 0o600)
		if _, err := Open(damaged, Options{ReadOnly: true}); err != nil {
			failedOpen++
		}
		damagedFileIsSafe(t, damaged, want)
	}
	t.Logf("300 flips: %d left every run intact; truncations refused at open: %d/3", undetected, failedOpen)
}

// damagedFileIsSafe exercises every read path; it reports true when the
// damage was detected or refused, false when all runs still verify (which
// is only acceptable if they read back unchanged).
func damagedFileIsSafe(t *testing.T, path string, want map[string][]Event) bool {
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return true
	}
	defer db.Close()
	detected := false
	if _, err := db.Runs(0); err != nil {
		detected = true
	}
	for id, evs := range want {
		_ = db.Export(id, new(bytes.Buffer))
		_, _, _ = db.LastEvent(id)
		got, err := db.Events(id)
		if verr := db.Verify(id); verr != nil || err != nil {
			detected = true
			continue
		}
		if !reflect.DeepEqual(got, evs) {
			t.Errorf("%s: run %s verifies but its events changed", path, id)
		}
	}
	return detected
}

func TestVerifyForgedVersionAndHead(t *testing.T) {
	path, evs := journalFile(t, 3)
	e := evs[1]
	e.V = SchemaVersion + 1
	e.Hash, _ = eventHash(e)
	putEvent(t, path, e)
	rawBolt(t, path, func(tx *bolt.Tx) error {
		eb, runNo := runEvents2(t, tx, runA)
		return eb.Put(eventKey(runNo, headSeq), encodeHead(3, make([]byte, hashLen)))
	})
	ve, _ := verifyProblems(t, path)
	if ve == nil || !hasProblem(ve, 2, "unknown schema version") || !hasProblem(ve, 3, "head anchor hash") {
		t.Fatalf("forged version and head: %v", ve)
	}
}

// VerifyHead returns the hash of the run's last event, which chains every
// event before it, and nothing for a run that does not verify.
func TestVerifyHeadIsTheLastEventsHash(t *testing.T) {
	db := mustOpen(t, testPath(t), Options{})
	evs := writeRun(t, db, "r1", 4)
	h, err := db.VerifyHead("r1")
	if err != nil || h.Seq != 4 || h.Hash != evs[3].Hash || len(h.Hash) != 64 {
		t.Fatalf("VerifyHead = %+v, %v; last event %d %s", h, err, evs[3].Seq, evs[3].Hash)
	}
	if err := db.CreateRun(sampleRun("r0")); err != nil {
		t.Fatal(err)
	}
	if h, err := db.VerifyHead("r0"); err != nil || h.Seq != 0 || len(h.Hash) != 64 {
		t.Errorf("a run without events: VerifyHead = %+v, %v; want seq 0 and the record's hash", h, err)
	}
	if h, err := db.VerifyHead("nosuch"); !errors.Is(err, ErrRunNotFound) || h != (Head{}) {
		t.Errorf("unknown run: %+v, %v", h, err)
	}
}
