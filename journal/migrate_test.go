package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// v1View is everything the read API returns for a journal.
type v1View struct {
	Runs   []RunSummary
	Recs   map[string]Run
	Events map[string][]Event
	Last   map[string]Event
}

func readAll(t *testing.T, path string) v1View {
	t.Helper()
	db := mustOpen(t, path, Options{ReadOnly: true})
	defer db.Close()
	v := v1View{Recs: map[string]Run{}, Events: map[string][]Event{}, Last: map[string]Event{}}
	var err error
	if v.Runs, err = db.Runs(0); err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Runs {
		id := s.Run.ID
		if v.Recs[id], err = db.Run(id); err != nil {
			t.Fatal(err)
		}
		if v.Events[id], err = db.Events(id); err != nil {
			t.Fatal(err)
		}
		if v.Last[id], _, err = db.LastEvent(id); err != nil {
			t.Fatal(err)
		}
		if err := db.Verify(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	return v
}

func schemaOfFile(t *testing.T, path string) string {
	t.Helper()
	var s string
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx *bolt.Tx) error { s = string(tx.Bucket(bucketMeta).Get(keySchema)); return nil })
	return s
}

// Reading a v1 journal changes nothing; the first writer migrates it, and
// the journal reads back exactly as before, keeps the v1 file, verifies,
// and carries on with new events chained to the old ones.
func TestMigrateV1Fixture(t *testing.T) {
	path := v1Fixture(t)
	orig, _ := os.ReadFile(path)
	before := readAll(t, path)
	if len(before.Runs) != 3 || len(before.Events[fxC]) != 30 || string(before.Recs[fxA].Source) != fixturePlaybook {
		t.Fatalf("v1 fixture read in place: %d runs", len(before.Runs))
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) || schemaOfFile(t, path) != "1" {
		t.Fatal("reading a v1 journal changed it")
	}
	if _, err := os.Stat(path + ".v1-backup"); !os.IsNotExist(err) {
		t.Fatal("a reader made a backup")
	}

	var notes []string
	db := mustOpen(t, path, Options{Notify: func(m string) { notes = append(notes, m) }})
	if len(notes) != 1 || !strings.Contains(notes[0], "migrated from schema 1 to 2 (3 runs, 37 events); the v1 file is kept as "+path+".v1-backup") {
		t.Errorf("notice %q", notes)
	}
	if schemaOfFile(t, path) != "2" {
		t.Fatal("not migrated")
	}
	if backup, _ := os.ReadFile(path + ".v1-backup"); !bytes.Equal(backup, orig) {
		t.Fatal("the backup is not the v1 file")
	}
	if _, err := os.Stat(path + ".migrating"); !os.IsNotExist(err) {
		t.Error("the migration left its temporary file")
	}
	after := readAll(t, path)
	if !reflect.DeepEqual(after, before) {
		a, _ := json.Marshal(after)
		b, _ := json.Marshal(before)
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Fatalf("the migrated journal reads differently, from byte %d:\n got %.300s\nwant %.300s", i, a[i:], b[i:])
	}
	for _, e := range after.Events[fxA] {
		if e.V != 1 {
			t.Fatalf("a migrated event changed version: %+v", e)
		}
	}
	// Exports are the same bytes: offline checks of old exports still hold.
	for _, id := range []string{fxA, fxB, fxC} {
		var a, b bytes.Buffer
		ro := mustOpen(t, path+".v1-backup", Options{ReadOnly: true})
		if err := ro.Export(id, &a); err != nil {
			t.Fatal(err)
		}
		ro.Close()
		if err := db.Export(id, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("export of %s differs after migration:\n%s\n%s", id, a.Bytes(), b.Bytes())
		}
		if _, err := checkExport(b.Bytes()); err != nil {
			t.Errorf("export of %s does not verify offline: %v", id, err)
		}
	}
	// Migrated runs go on in the new format, chained to their v1 events.
	for _, id := range []string{fxA, fxB} {
		e, err := db.Append(id, Event{Type: "run.resumed"})
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(len(before.Events[id]) + 1); e.V != 2 || e.Seq != want {
			t.Errorf("appended %+v, want v2 seq %d", e, want)
		}
		if len(before.Events[id]) > 0 && e.Prev != before.Last[id].Hash {
			t.Errorf("appended event does not chain to the last v1 event")
		}
		if err := db.Verify(id); err != nil {
			t.Error(err)
		}
		var b bytes.Buffer
		if err := db.Export(id, &b); err != nil {
			t.Fatal(err)
		}
		if _, err := checkExport(b.Bytes()); err != nil {
			t.Errorf("export of %s after an append does not verify offline: %v", id, err)
		}
	}
	writeRun(t, db, "r-new", 2)
	if err := db.Verify("r-new"); err != nil {
		t.Error(err)
	}
	db.Close()
	// A second open finds nothing to migrate.
	notes = nil
	mustOpen(t, path, Options{Notify: func(m string) { notes = append(notes, m) }}).Close()
	if len(notes) != 0 {
		t.Errorf("second open: %q", notes)
	}
}

// A crash can interrupt a migration after it wrote part of its new file,
// or after it linked the backup: the next writer starts over and finishes.
// A backup name holding another file is never overwritten.
func TestMigrateAfterInterruptedAttempt(t *testing.T) {
	path := v1Fixture(t)
	orig, _ := os.ReadFile(path)
	if err := os.WriteFile(path+".migrating", orig[:5000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, path+".v1-backup"); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, Options{}).Close()
	if b, _ := os.ReadFile(path + ".v1-backup"); !bytes.Equal(b, orig) {
		t.Error("backup lost")
	}
	if _, err := os.Stat(path + ".v1-backup.2"); !os.IsNotExist(err) {
		t.Error("a second backup was made for the same file")
	}
	if len(readAll(t, path).Runs) != 3 {
		t.Error("runs lost")
	}

	path = v1Fixture(t)
	os.WriteFile(path+".v1-backup", []byte("someone else's file"), 0o600)
	mustOpen(t, path, Options{}).Close()
	if b, _ := os.ReadFile(path + ".v1-backup"); string(b) != "someone else's file" {
		t.Error("an unrelated file was overwritten")
	}
	if b, _ := os.ReadFile(path + ".v1-backup.2"); !bytes.Equal(b, orig) {
		t.Error("the v1 file was not kept as .v1-backup.2")
	}
}

// A migration that cannot finish changes nothing: the v1 journal is still
// there, whole, and readable.
func TestMigrateFailureChangesNothing(t *testing.T) {
	path := v1Fixture(t)
	orig, _ := os.ReadFile(path)
	// The temporary file's name is taken by a directory it cannot remove.
	if err := os.MkdirAll(filepath.Join(path+".migrating", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "migrat") {
		t.Fatalf("Open: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
		t.Fatal("the v1 journal changed")
	}
	if _, err := os.Stat(path + ".v1-backup"); !os.IsNotExist(err) {
		t.Error("backup made for a migration that did not happen")
	}
	if len(readAll(t, path).Runs) != 3 {
		t.Error("the v1 journal no longer reads")
	}
	if _, err := os.Stat(ownerPath(path)); !os.IsNotExist(err) {
		t.Error("a failed open left an owner record")
	}
}

// Two processes opening a v1 journal for writing at once: the writer's
// lock lets one migrate; the other either waits and finds it migrated or
// is refused. Either way it is migrated once.
func TestMigrateTwoProcesses(t *testing.T) {
	path := v1Fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var outs []*bytes.Buffer
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		c := helper(ctx, "migrate", path)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		outs, cmds = append(outs, &out), append(cmds, c)
	}
	migrated := 0
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		s := outs[i].String()
		migrated += strings.Count(s, "migrated from schema 1")
		if !strings.Contains(s, "opened") && !strings.Contains(s, "locked=true") {
			t.Errorf("helper %d: %s", i, s)
		}
	}
	if migrated != 1 {
		t.Errorf("migrated %d times", migrated)
	}
	if _, err := os.Stat(path + ".v1-backup.2"); !os.IsNotExist(err) {
		t.Error("two backups")
	}
	if len(readAll(t, path).Runs) != 3 || schemaOfFile(t, path) != "2" {
		t.Error("not one clean migration")
	}
}

// A reader that opened the journal while it was v1 goes on reading it
// after a writer migrated it between two of its transactions.
func TestReaderAcrossMigration(t *testing.T) {
	path := v1Fixture(t)
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	before, err := ro.Events(fxC)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, Options{}).Close()
	after, err := ro.Events(fxC)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after migration: %v", err)
	}
	if err := ro.Verify(fxC); err != nil {
		t.Fatal(err)
	}
}

// Migration keeps a large v1 run record (its playbook text inline) as it
// is; new events of that run no longer rewrite it.
func TestMigrateLargeRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	r := sampleRun("big")
	r.Source = bytes.Repeat([]byte("# padding line of a large playbook\n"), 30000) // ~1 MB
	writeV1(t, path, []Run{r}, [][]Event{{sampleEvent(1), sampleEvent(2)}})
	db := mustOpen(t, path, Options{})
	defer db.Close()
	got, err := db.Run("big")
	if err != nil || !bytes.Equal(got.Source, r.Source) {
		t.Fatalf("source after migration: %d bytes, %v", len(got.Source), err)
	}
	st0, _ := os.Stat(path)
	for i := 3; i <= 40; i++ {
		if _, err := db.Append("big", sampleEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	st1, _ := os.Stat(path)
	if grew := st1.Size() - st0.Size(); grew > 1<<20 {
		t.Errorf("38 appends grew the file by %d bytes: the record is being rewritten", grew)
	}
	if err := db.Verify("big"); err != nil {
		t.Fatal(err)
	}
}

func helperMigrate(path string) {
	db, err := Open(path, Options{Timeout: 30 * time.Second, Notify: func(m string) { println(m) }})
	if err != nil {
		println("locked=" + boolString(errors.Is(err, ErrLocked)) + " " + err.Error())
		return
	}
	println("opened")
	db.Close()
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Random damage to a v1 journal never makes migration panic or lose the
// file: either the writer refuses it (and it is left as it was) or every
// run verifies, or fails, after migration as it did before.
func TestMigrateRandomDamage(t *testing.T) {
	orig, _ := os.ReadFile(v1Fixture(t))
	const page = 4096
	rng := rand.New(rand.NewSource(3))
	refused, migrated, damaged := 0, 0, 0
	for i := 0; i < 60; i++ {
		b := bytes.Clone(orig)
		b[2*page+rng.Intn(len(b)-2*page)] ^= byte(1 << rng.Intn(8))
		path := filepath.Join(t.TempDir(), "journal.db")
		os.WriteFile(path, b, 0o600)
		keys, before := damagedVerdicts(t, path)
		db, err := Open(path, Options{})
		if err != nil {
			refused++
			if now, _ := os.ReadFile(path); !bytes.Equal(now, b) {
				t.Fatalf("flip %d: a refused migration changed the file (%v)", i, err)
			}
			continue
		}
		db.Close()
		migrated++
		_, after := damagedVerdicts(t, path)
		for _, k := range keys {
			if before[k] != nil {
				damaged++
			}
			if (before[k] == nil) != (after[k] == nil) {
				t.Errorf("flip %d, run %q: before migration %v, after %v", i, k, before[k], after[k])
			}
		}
	}
	t.Logf("60 flips: %d migrated (%d damaged runs among them), %d refused", migrated, damaged, refused)
}

// damagedVerdicts is Verify's result for each run listed, or nil keys if
// the file does not open.
func damagedVerdicts(t *testing.T, path string) ([]string, map[string]error) {
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return nil, nil
	}
	defer db.Close()
	out := map[string]error{}
	var keys []string
	sums, err := db.Runs(0)
	if err != nil {
		return nil, nil
	}
	for _, s := range sums {
		keys = append(keys, s.Run.ID)
		out[s.Run.ID] = db.Verify(s.Run.ID)
	}
	return keys, out
}
