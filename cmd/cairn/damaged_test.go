package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A damaged run is listed as damaged, with why, beside the others; resume
// without a run id passes over it to the newest run it can trust.
func TestDamagedRunIsListedAndPassedOver(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	var ids []string
	for range 2 {
		if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
			t.Fatal(r.stderr)
		}
		r := cairn(t, j, "runs", "-q")
		ids = append(ids, strings.Fields(r.stdout)[0])
	}
	older, newer := ids[0], ids[1]
	db, err := bolt.Open(j, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("runs")).Put([]byte(newer), []byte{2, 0}) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	r := cairn(t, j, "runs")
	if r.code != ExitOK {
		t.Fatalf("runs with a damaged run: exit %d\n%s", r.code, r.stderr)
	}
	var damagedRow bool
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, newer) && strings.Contains(line, "damaged") {
			damagedRow = true
		}
	}
	if !damagedRow || !strings.Contains(r.stdout, "run "+newer+" is damaged: ") || !strings.Contains(r.stdout, older) {
		t.Errorf("runs:\n%s", r.stdout)
	}
	r = cairn(t, j, "runs", "-o", "json")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"status": "damaged"`) || !strings.Contains(r.stdout, `"damage": "`) {
		t.Errorf("runs -o json: exit %d\n%s", r.code, r.stdout)
	}

	r = cairn(t, j, "resume", "--plan")
	if r.code != ExitOK || !strings.Contains(r.stdout+r.stderr, older) || strings.Contains(r.stdout+r.stderr, newer) {
		t.Errorf("resume --plan should pick %s over the damaged %s: exit %d\n%s%s", older, newer, r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, j, "resume", newer); r.code != ExitJournal {
		t.Errorf("resume of the damaged run by name: exit %d, want %d\n%s", r.code, ExitJournal, r.stderr)
	}
}

// The system refusing the journal file is a journal error (exit 3), with
// the file named.
func TestUnreadableJournalExitsJournal(t *testing.T) {
	// A directory in the file's place is refused even to root, who would
	// read a mode 0000 file.
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if err := os.Mkdir(j, 0o700); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, j, "runs")
	if r.code != ExitJournal || !strings.Contains(r.stderr, j) {
		t.Errorf("runs on a directory: exit %d, want %d\n%s", r.code, ExitJournal, r.stderr)
	}
}
