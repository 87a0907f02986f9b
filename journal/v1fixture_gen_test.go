package journal

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// writeFixtureV1 writes the fixture with this package's own writer, which
// is the schema 1 writer at this commit.
func writeFixtureV1(t *testing.T, runs []Run, events [][]Event) {
	path := filepath.Join(t.TempDir(), "journal.db")
	db := mustOpen(t, path, Options{})
	for i, r := range runs {
		if err := db.CreateRun(r); err != nil {
			t.Fatal(err)
		}
		for _, e := range events[i] {
			if _, err := db.Append(r.ID, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureV1, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d bytes, %d gzipped", fixtureV1, len(raw), buf.Len())
}
