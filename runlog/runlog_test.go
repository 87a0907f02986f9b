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
	w, err := s.Create("20261203-091500-abc123", "upgrade", "ns/a b", 2)
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
	s := &Store{Dir: t.TempDir()}
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
