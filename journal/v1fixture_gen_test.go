package journal

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// writeFixtureV1 rewrites the fixture. It was first written by this
// package's own writer when that was the schema 1 writer (commit e5186f4);
// now the frozen copy, which TestV1Fixture shows writes the same bytes,
// writes it.
func writeFixtureV1(t *testing.T, runs []Run, events [][]Event) {
	path := filepath.Join(t.TempDir(), "journal.db")
	writeV1(t, path, runs, events)
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
