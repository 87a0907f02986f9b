package runlog

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterFileAndRef(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "j.db.d", "logs")}
	w, err := s.Create("20261203-091500-abc123", FileName("upgrade", "ns/a b", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Line("stdout", "one"); err != nil {
		t.Fatal(err)
	}
	if err := w.Line("stderr", "two words"); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Path("20261203-091500-abc123", ref.File)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Bytes != int64(len(b)) {
		t.Errorf("ref %+v does not describe the %d bytes written", ref, len(b))
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("file:\n%s", b)
	}
	if e := Parse(lines[1]); e.Stream != "stderr" || e.Text != "two words" || !strings.HasSuffix(e.Time, "Z") {
		t.Errorf("Parse(%q) = %+v", lines[1], e)
	}
	for path, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700, filepath.Dir(filepath.Dir(p)): 0o700} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

func TestFileNames(t *testing.T) {
	if got := FileName("upgrade", "", 1); got != "upgrade.1.log" {
		t.Errorf("plain step: %s", got)
	}
	if got := FileName("relabel", "prod", 3); got != "relabel[prod].3.log" {
		t.Errorf("item: %s", got)
	}
	a, b := FileName("s", "a/b", 1), FileName("s", "a_b", 1)
	if a == b || strings.ContainsAny(a, "/") {
		t.Errorf("items a/b and a_b: %s and %s", a, b)
	}
	if n := FileName("s", strings.Repeat("x", 500), 1); len(n) > 200 {
		t.Errorf("long item gives a %d-byte name", len(n))
	}
	if got := PhaseFileName("relabel", "prod", Undo, 1); got != "relabel[prod].undo.1.log" {
		t.Errorf("undo: %s", got)
	}
	if got := PhaseFileName("upgrade", "", Check, 2); got != "upgrade.check.2.log" {
		t.Errorf("check: %s", got)
	}
	// No item can make an attempt's name an undo's or a check's.
	phased := map[string]bool{}
	for _, item := range []string{"", "a", "a].undo", "a].check", "a]", "x/y", strings.Repeat("z", 200)} {
		for _, ph := range []string{Undo, Check} {
			phased[PhaseFileName("s", item, ph, 1)] = true
		}
	}
	for _, item := range []string{"", "a", "a].undo", "a].check", "a]", "a].undo.1.log", "x/y", strings.Repeat("z", 200)} {
		if n := FileName("s", item, 1); phased[n] {
			t.Errorf("item %q: attempt file %s is a phase's", item, n)
		}
	}
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Create("r1", "../x.log"); err == nil {
		t.Error("Create outside the run's directory accepted")
	}
	for _, bad := range []string{"", "../x", "a/b"} {
		if _, err := s.RunDir(bad); err == nil {
			t.Errorf("run id %q accepted", bad)
		}
	}
	if _, err := s.Path("r1", "../../etc/passwd"); err == nil {
		t.Error("a path outside the run's directory accepted")
	}
}

func TestParseForeignLine(t *testing.T) {
	if e := Parse("edited by hand"); e.Text != "edited by hand" || e.Stream != "" {
		t.Errorf("Parse = %+v", e)
	}
}
