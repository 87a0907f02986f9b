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

// An exec step's output reaches OnOutput line by line and a file per
// attempt, secrets redacted; each finishing event records the file's
// sha256 and size, and the run still verifies.
func TestExecOutputKeptPerAttempt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := steps.NewRegistry(steps.Deps{Logger: zerolog.Nop()})
	e := New(db, reg, zerolog.Nop())
	e.Sleep = func(context.Context, time.Duration) error { return nil }
	e.Logs = &runlog.Store{Dir: runlog.Dir(path)}
	var mu sync.Mutex
	var streamed []string
	e.OnOutput = func(step, item, _, stream, line string) {
		mu.Lock()
		defer mu.Unlock()
		streamed = append(streamed, step+"|"+stream+"|"+line)
	}
	pb, err := playbooks.Load("t.yaml", []byte(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: out}
params:
  token: {type: string, secret: true}
steps:
  - id: flaky
    exec:
      argv: [sh, -c, 'printf "attempt %s token=${params.token}\n" "$CAIRN_ATTEMPT"; echo warn >&2; if [ "$CAIRN_ATTEMPT" = 1 ]; then sleep 5; fi; echo done']
      timeout: 500ms
    retry: {attempts: 2}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := playbooks.Resolve(pb, map[string]string{"token": "s3cr3t-value"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Start(context.Background(), StartRequest{Playbook: pb, Origin: "t.yaml", Values: vals})
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	st, err := e.Load(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	atts := st.Instances["flaky"].Attempts
	if len(atts) != 2 {
		t.Fatalf("%d attempts", len(atts))
	}
	for i, a := range atts {
		if a.Output == nil {
			t.Fatalf("attempt %d: no output recorded", a.N)
		}
		b, err := os.ReadFile(filepath.Join(runlog.Dir(path), out.RunID, a.Output.File))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != a.Output.SHA256 || int64(len(b)) != a.Output.Bytes {
			t.Errorf("attempt %d: journal says %+v, file has %d bytes", a.N, a.Output, len(b))
		}
		text := string(b)
		if strings.Contains(text, "s3cr3t") || !strings.Contains(text, "stdout attempt "+string(rune('1'+i))+" token=<redacted>") || !strings.Contains(text, "stderr warn") {
			t.Errorf("attempt %d file:\n%s", a.N, text)
		}
		if done := strings.Contains(text, "stdout done"); done != (i == 1) {
			t.Errorf("attempt %d file (done %v):\n%s", a.N, done, text)
		}
	}
	if err := db.Verify(out.RunID); err != nil {
		t.Errorf("verify: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(streamed, "flaky|stdout|attempt 2 token=<redacted>") || !slices.Contains(streamed, "flaky|stderr|warn") {
		t.Errorf("streamed %q", streamed)
	}
	for _, l := range streamed {
		if strings.Contains(l, "s3cr3t") {
			t.Errorf("secret streamed: %q", l)
		}
	}
}

// A kind that does not stream output gets no file.
func TestNoOutputFileForOtherKinds(t *testing.T) {
	h := newHarness(t)
	h.eng.Logs = &runlog.Store{Dir: runlog.Dir(h.path)}
	out, err := h.start(h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: t}
steps:
  - id: a
    touch: {value: x}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := h.state(out.RunID).Instances["a"].Attempts[0]; a.Output != nil {
		t.Errorf("output recorded for touch: %+v", a.Output)
	}
	if _, err := os.Stat(runlog.Dir(h.path)); !os.IsNotExist(err) {
		t.Errorf("log dir created: %v", err)
	}
}
