package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// Every JSON log line about a run's steps and events names the run, so
// lines shipped to a log store can be told apart; a terminal's console
// lines do not repeat it.
func TestJSONLogLinesNameTheRun(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s")
	if r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if _, ok := m["seq"]; !ok {
			if _, ok := m["step"]; !ok {
				continue // not about the run's progress
			}
		}
		n++
		if m["run"] != id {
			t.Errorf("log line without run %s: %s", id, line)
		}
	}
	if n < 10 {
		t.Fatalf("only %d progress lines:\n%s", n, r.stderr)
	}
	if r := cairn(t, j, "approve", id, "canary-ok"); r.code != ExitOK {
		t.Fatalf("approve: %d %s", r.code, r.stderr)
	}
	r = cairn(t, j, "--log-format", "console", "resume", id)
	if r.code != ExitOK || !strings.Contains(r.stderr, "run.succeeded") || strings.Contains(r.stderr, `{"`) || strings.Count(r.stderr, id) > 2 {
		t.Errorf("console lines repeat the run id (exit %d):\n%s", r.code, r.stderr)
	}
}
