package action

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
)

// A commit held up by another process is warned about and waited out, until
// the command is interrupted.
func TestOnBlockedWarnsAndWaitsUntilCancelled(t *testing.T) {
	var logs bytes.Buffer
	c := &Config{Log: zerolog.New(&logs)}
	ctx, cancel := context.WithCancel(context.Background())
	wait := c.onBlocked(ctx)
	be := &journal.BlockedError{Path: "/j.db", Write: true, Waited: 3 * time.Second, Holders: []journal.Holder{{PID: 42, Command: "cairn show", Stopped: true}}}
	if !wait(be) {
		t.Error("gave up before the command was interrupted")
	}
	if out := logs.String(); !strings.Contains(out, `"level":"warn"`) || !strings.Contains(out, "pid 42") || !strings.Contains(out, "still waiting") {
		t.Errorf("warning: %s", out)
	}
	cancel()
	if wait(be) {
		t.Error("kept waiting after the command was interrupted")
	}
}

// What the journal reports that is not an error reaches the log.
func TestJournalNoticesAreLogged(t *testing.T) {
	var logs bytes.Buffer
	path := t.TempDir() + "/j.db"
	c := &Config{Log: zerolog.New(&logs), JournalPath: path}
	// An empty file is initialised by a writer, with a notice.
	if err := writeEmpty(path); err != nil {
		t.Fatal(err)
	}
	db, err := c.OpenJournal(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out := logs.String(); !strings.Contains(out, `"level":"info"`) || !strings.Contains(out, path) {
		t.Errorf("no notice logged for an initialised empty journal: %q", out)
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o600) }
