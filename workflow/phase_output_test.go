package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
)

// An exec check run by resume and an exec undo run by rollback stream
// their output to OnOutput, redacted and marked with their phase, and
// keep it in files of their own beside the step's attempts, whose sha256
// check.failed and undo.failed record.
func TestCheckAndUndoOutputKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := steps.NewRegistry(steps.Deps{Logger: zerolog.Nop()})
	e := New(db, reg, zerolog.Nop())
	e.Logs = &runlog.Store{Dir: runlog.Dir(path)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var streamed []string
	e.OnOutput = func(step, item, phase, stream, line string) {
		mu.Lock()
		defer mu.Unlock()
		streamed = append(streamed, strings.Join([]string{step, phase, stream, line}, "|"))
		if line == "put attempt 1" {
			cancel() // as a SIGINT in the middle of the step
		}
	}
	pb, err := playbooks.Load("t.yaml", []byte(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: phases}
params:
  token: {type: string, secret: true}
steps:
  - id: put
    exec:
      argv: [sh, -c, 'echo "put attempt $CAIRN_ATTEMPT"; if [ "$CAIRN_ATTEMPT" = 1 ]; then sleep 30; fi']
    check:
      exec: {argv: [sh, -c, 'echo "check token=${params.token}"; echo "not there" >&2; exit 1']}
    undo:
      exec: {argv: [sh, -c, 'echo "undo token=${params.token}"; echo "cannot" >&2; exit 1']}
  - id: boom
    exec: {argv: [sh, -c, 'exit 3']}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := playbooks.Resolve(pb, map[string]string{"token": "s3cr3t-value"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := e.Start(ctx, StartRequest{Playbook: pb, Origin: "t.yaml", Values: vals})
	if out.Status != StatusInterrupted {
		t.Fatalf("run: %s, want interrupted", out.Status)
	}
	set := map[string]string{"token": "s3cr3t-value"}
	if out, err := e.Resume(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb, Set: set}); out.Status != StatusFailed {
		t.Fatalf("resume: %s %v", out.Status, err)
	}
	if out, err := e.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb, Set: set}); out.Status != StatusRollbackFailed {
		t.Fatalf("rollback: %s %v", out.Status, err)
	}

	st, err := e.Load(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	in := st.Instances["put"]
	if len(in.Checks) != 1 || len(in.Undos) != 1 || len(in.Attempts) != 2 {
		t.Fatalf("put: %d checks, %d undos, %d attempts", len(in.Checks), len(in.Undos), len(in.Attempts))
	}
	for _, c := range []struct {
		a        Attempt
		file     string
		outcome  string
		lines    []string
		streamed []string
	}{
		{in.Checks[0], "put.check.1.log", "not in place", []string{"stdout check token=<redacted>", "stderr not there"}, []string{"put|check|stdout|check token=<redacted>", "put|check|stderr|not there"}},
		{in.Undos[0], "put.undo.1.log", "failed", []string{"stdout undo token=<redacted>", "stderr cannot"}, []string{"put|undo|stdout|undo token=<redacted>", "put|undo|stderr|cannot"}},
	} {
		if c.a.Output == nil || c.a.Output.File != c.file || c.a.Outcome != c.outcome || c.a.N != 1 || c.a.Ended.IsZero() {
			t.Fatalf("%s: %+v, output %+v", c.file, c.a, c.a.Output)
		}
		b, err := os.ReadFile(filepath.Join(runlog.Dir(path), out.RunID, c.file))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != c.a.Output.SHA256 || int64(len(b)) != c.a.Output.Bytes {
			t.Errorf("%s: journal says %+v, file has %d bytes", c.file, c.a.Output, len(b))
		}
		for _, l := range c.lines {
			if !strings.Contains(string(b), " "+l+"\n") || strings.Contains(string(b), "s3cr3t") {
				t.Errorf("%s lacks %q or holds the secret:\n%s", c.file, l, b)
			}
		}
		mu.Lock()
		for _, l := range c.streamed {
			if !slices.Contains(streamed, l) {
				t.Errorf("%q not streamed: %q", l, streamed)
			}
		}
		mu.Unlock()
	}
	if err := db.Verify(out.RunID); err != nil {
		t.Errorf("verify: %v", err)
	}
}

// A check attempt cut off by a kill stays unfinished: a built-in check's
// instance.checked in a later resume does not end it.
func TestReplayEndsOnlyTheCheckThatRan(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	st := Replay(journal.Run{ID: "r"}, []journal.Event{
		{Type: EvInstanceStarted, Step: "a", Attempt: 1, Time: at},
		{Type: EvRunResumed, Time: at},
		{Type: EvCheckStarted, Step: "a", Attempt: 1, Time: at},
		{Type: EvRunResumed, Time: at},
		{Type: EvInstanceChecked, Step: "a", Attempt: 1, Time: at},
		{Type: EvInstanceStarted, Step: "b", Attempt: 1, Time: at},
		{Type: EvRunResumed, Time: at},
		{Type: EvCheckStarted, Step: "b", Attempt: 1, Time: at},
		{Type: EvCheckFailed, Step: "b", Attempt: 1, Time: at, Data: []byte(`{"check":{"file":"b.check.1.log","sha256":"ab","bytes":3}}`)},
	})
	if c := st.Instances["a"].Checks; len(c) != 1 || c[0].Outcome != "" || !c[0].Ended.IsZero() {
		t.Errorf("a's checks: %+v", c)
	}
	if a := st.Instances["a"].Attempts[0]; a.Outcome != "already in place" {
		t.Errorf("a's attempt: %+v", a)
	}
	if c := st.Instances["b"].Checks; len(c) != 1 || c[0].Outcome != "not in place" || c[0].Output == nil || c[0].Output.File != "b.check.1.log" {
		t.Errorf("b's checks: %+v", c)
	}
	if a := st.Instances["b"].Attempts[0]; a.Output != nil || a.Outcome != "" {
		t.Errorf("b's attempt took the check's file: %+v", a)
	}
}
