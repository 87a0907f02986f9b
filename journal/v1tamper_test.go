package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cairn-dev/cairn/journal/internal/journalv1"
)

// goldenV1Tampered holds what the schema 1 Verify reported for each damaged
// copy of the v1 fixture, written with -update by the v1 code itself. A
// migrated journal must report the same.
const goldenV1Tampered = "testdata/v1-tampered.golden.json"

const (
	fxA = "20261122-022400-0aa111" // 7 events, with a playbook source
	fxB = "20261122-022500-0bb222" // no events
	fxC = "20261122-022600-0cc333" // 30 events
)

// v1Bucket is a run's bucket in a v1 file, or its events bucket.
func v1Bucket(tx *bolt.Tx, id string, events bool) *bolt.Bucket {
	rb := tx.Bucket([]byte("runs")).Bucket([]byte(id))
	if events {
		return rb.Bucket([]byte("events"))
	}
	return rb
}

func v1Replace(tx *bolt.Tx, id string, seq uint64, old, new string) error {
	eb := v1Bucket(tx, id, true)
	v := bytes.Clone(eb.Get(journalv1.SeqKey(seq)))
	if !bytes.Contains(v, []byte(old)) {
		return errors.New("tamper: " + old + " not found")
	}
	return eb.Put(journalv1.SeqKey(seq), bytes.Replace(v, []byte(old), []byte(new), 1))
}

// v1Tamperings damage a v1 journal the ways an editor, a script or a
// failing disk would.
var v1Tamperings = map[string]func(tx *bolt.Tx) error{
	"altered event": func(tx *bolt.Tx) error { return v1Replace(tx, fxA, 3, "drained", "drainee") },
	"case flip in a key": func(tx *bolt.Tx) error {
		return v1Replace(tx, fxC, 4, `"evidence"`, `"Evidence"`)
	},
	"last event removed":   func(tx *bolt.Tx) error { return v1Bucket(tx, fxA, true).Delete(journalv1.SeqKey(7)) },
	"middle event removed": func(tx *bolt.Tx) error { return v1Bucket(tx, fxC, true).Delete(journalv1.SeqKey(15)) },
	"tail of three removed": func(tx *bolt.Tx) error {
		for seq := uint64(28); seq <= 30; seq++ {
			if err := v1Bucket(tx, fxC, true).Delete(journalv1.SeqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	},
	"events swapped": func(tx *bolt.Tx) error {
		eb := v1Bucket(tx, fxC, true)
		five, six := bytes.Clone(eb.Get(journalv1.SeqKey(5))), bytes.Clone(eb.Get(journalv1.SeqKey(6)))
		if err := eb.Put(journalv1.SeqKey(5), six); err != nil {
			return err
		}
		return eb.Put(journalv1.SeqKey(6), five)
	},
	"event rehashed": func(tx *bolt.Tx) error {
		eb := v1Bucket(tx, fxA, true)
		var e Event
		if err := json.Unmarshal(eb.Get(journalv1.SeqKey(2)), &e); err != nil {
			return err
		}
		e.Token = "forged"
		e.Hash, _ = eventHash(e)
		b, _ := json.Marshal(e)
		return eb.Put(journalv1.SeqKey(2), b)
	},
	"last event rehashed": func(tx *bolt.Tx) error {
		eb := v1Bucket(tx, fxC, true)
		var e Event
		if err := json.Unmarshal(eb.Get(journalv1.SeqKey(30)), &e); err != nil {
			return err
		}
		e.Evidence = "forged"
		e.Hash, _ = eventHash(e)
		b, _ := json.Marshal(e)
		return eb.Put(journalv1.SeqKey(30), b)
	},
	"record altered": func(tx *bolt.Tx) error {
		rb := v1Bucket(tx, fxB, false)
		return rb.Put([]byte("run"), bytes.Replace(bytes.Clone(rb.Get([]byte("run"))), []byte("alice"), []byte("alicf"), 1))
	},
	"record with source altered": func(tx *bolt.Tx) error {
		rb := v1Bucket(tx, fxA, false)
		return rb.Put([]byte("run"), bytes.Replace(bytes.Clone(rb.Get([]byte("run"))), []byte(`"playbook":"demo"`), []byte(`"playbook":"demO"`), 1))
	},
	"record unreadable": func(tx *bolt.Tx) error { return v1Bucket(tx, fxC, false).Put([]byte("run"), []byte("{garbage")) },
	"record removed":    func(tx *bolt.Tx) error { return v1Bucket(tx, fxB, false).Delete([]byte("run")) },
	"head removed":      func(tx *bolt.Tx) error { return v1Bucket(tx, fxA, false).Delete([]byte("head")) },
	"head unreadable":   func(tx *bolt.Tx) error { return v1Bucket(tx, fxC, false).Put([]byte("head"), []byte("[1,2]")) },
	"head forged": func(tx *bolt.Tx) error {
		return v1Bucket(tx, fxA, false).Put([]byte("head"), []byte(`{"seq":9,"hash":"00"}`))
	},
	"events bucket removed": func(tx *bolt.Tx) error { return v1Bucket(tx, fxA, false).DeleteBucket([]byte("events")) },
	"two-byte key among the events": func(tx *bolt.Tx) error {
		return v1Bucket(tx, fxC, true).Put([]byte{0, 7}, []byte(`{"v":1}`))
	},
	"run copied under another id": func(tx *bolt.Tx) error {
		runs := tx.Bucket([]byte("runs"))
		src := runs.Bucket([]byte(fxA))
		dst, err := runs.CreateBucket([]byte("20261122-022700-0dd444"))
		if err != nil {
			return err
		}
		for _, k := range []string{"run", "head"} {
			if err := dst.Put([]byte(k), bytes.Clone(src.Get([]byte(k)))); err != nil {
				return err
			}
		}
		eb, err := dst.CreateBucket([]byte("events"))
		if err != nil {
			return err
		}
		return src.Bucket([]byte("events")).ForEach(func(k, v []byte) error { return eb.Put(bytes.Clone(k), bytes.Clone(v)) })
	},
}

// tamperedV1 is a copy of the v1 fixture damaged by one tampering.
func tamperedV1(t *testing.T, name string) string {
	t.Helper()
	path := v1Fixture(t)
	rawBolt(t, path, v1Tamperings[name])
	return path
}

// v1RunKeys lists the run keys of a v1 file, whatever their records say.
func v1RunKeys(t *testing.T, path string) []string {
	t.Helper()
	var keys []string
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("runs")).ForEachBucket(func(k []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	return keys
}

// verdicts is Verify's result for each run key: nil for ok.
func verdicts(t *testing.T, path string, keys []string) map[string][]Problem {
	t.Helper()
	db := mustOpen(t, path, Options{ReadOnly: true})
	defer db.Close()
	out := map[string][]Problem{}
	for _, k := range keys {
		err := db.Verify(k)
		var ve *VerifyError
		switch {
		case err == nil:
			out[k] = nil
		case errors.As(err, &ve):
			out[k] = ve.Problems
		default:
			t.Fatalf("%s: Verify(%s): %v", path, k, err)
		}
	}
	return out
}

// TestV1TamperedGolden: Verify reports for a damaged v1 journal what the
// schema 1 code reported (goldenV1Tampered was written by it, at commit
// ce86d48), both reading the v1 file in place and after migrating it.
func TestV1TamperedGolden(t *testing.T) {
	want := readGolden(t)
	for name := range v1Tamperings {
		t.Run(name, func(t *testing.T) {
			path := tamperedV1(t, name)
			keys := v1RunKeys(t, path)
			if got := verdicts(t, path, keys); !sameVerdicts(got, want[name], false) {
				t.Errorf("v1 file in place:\n got %s\nwant %s", showVerdicts(got), showVerdicts(want[name]))
			}
			var notes []string
			db, err := Open(path, Options{Notify: func(m string) { notes = append(notes, m) }})
			if err != nil {
				t.Fatalf("migrating: %v", err)
			}
			db.Close()
			if len(notes) != 1 || !strings.Contains(notes[0], "migrated from schema 1") {
				t.Fatalf("no migration notice: %q", notes)
			}
			if got := verdicts(t, path, keys); !sameVerdicts(got, want[name], true) {
				t.Errorf("after migration:\n got %s\nwant %s", showVerdicts(got), showVerdicts(want[name]))
			}
		})
	}
}

// sameVerdicts compares per-run problem lists; unordered allows another
// order (a migrated run reports what v2 keys cannot hold first).
func sameVerdicts(got, want map[string][]Problem, unordered bool) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok || len(g) != len(w) {
			return false
		}
		g, w = slices.Clone(g), slices.Clone(w)
		if unordered {
			cmp := func(a, b Problem) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
			slices.SortFunc(g, cmp)
			slices.SortFunc(w, cmp)
		}
		if !slices.Equal(g, w) {
			return false
		}
	}
	return true
}

func showVerdicts(v map[string][]Problem) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func readGolden(t *testing.T) map[string]map[string][]Problem {
	t.Helper()
	raw, err := os.ReadFile(goldenV1Tampered)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string][]Problem
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(v1Tamperings) {
		t.Fatalf("golden has %d cases, want %d", len(want), len(v1Tamperings))
	}
	return want
}
