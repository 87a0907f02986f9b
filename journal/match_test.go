package journal

import (
	"slices"
	"testing"
)

func TestRunsWithPrefix(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	for _, id := range []string{"20261201-0900-aa", "20261201-0930-bb", "20261202-0800-cc"} {
		writeRun(t, db, id, 2)
	}
	db.Close()
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	for _, c := range []struct {
		prefix string
		max    int
		want   []string
	}{
		{"20261201", 5, []string{"20261201-0900-aa", "20261201-0930-bb"}},
		{"20261201", 1, []string{"20261201-0900-aa"}},
		{"20261202", 5, []string{"20261202-0800-cc"}},
		{"20261202-0800-cc", 5, []string{"20261202-0800-cc"}},
		{"2026120", 5, []string{"20261201-0900-aa", "20261201-0930-bb", "20261202-0800-cc"}},
		{"20261203", 5, nil},
		{"zz", 5, nil},
	} {
		got, err := ro.RunsWithPrefix(c.prefix, c.max)
		if err != nil {
			t.Fatalf("RunsWithPrefix(%q): %v", c.prefix, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("RunsWithPrefix(%q, %d) = %q, want %q", c.prefix, c.max, got, c.want)
		}
	}
}
