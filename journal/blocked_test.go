package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stalledReader starts a second process that reads the journal and is
// stopped (SIGSTOP) in the middle of its read transaction, holding the
// file's shared lock, as a `cairn show` suspended with Ctrl-Z would.
func stalledReader(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	cmd := helper(ctx, "stall-read", path)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); cancel() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "in-tx\n" {
		t.Fatalf("reader said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func checkBlocked(t *testing.T, be *BlockedError, reader int) {
	t.Helper()
	if len(be.Holders) != 1 || be.Holders[0].PID != reader || be.Holders[0].Self || !be.Write {
		t.Fatalf("holders %+v, want the reader, pid %d", be.Holders, reader)
	}
	// /proc/PID/stat shows the stop a moment after the signal.
	msg := be.Error()
	for _, want := range []string{fmt.Sprintf("pid %d (journal.test", reader), "holds mid-transaction"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Errorf("message blames this process: %s", msg)
	}
}

// A reader stopped mid-transaction: without OnBlocked, a commit fails after
// TxTimeout, naming the reader and how to unblock it, not the writer's own
// pid from PATH.owner (D12).
func TestStoppedReaderFailsCommitNamingIt(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{TxTimeout: 700 * time.Millisecond})
	defer db.Close()
	writeRun(t, db, "r1", 1)
	reader := stalledReader(t, path).Process.Pid
	time.Sleep(100 * time.Millisecond) // for /proc/PID/stat to show the stop
	start := time.Now()
	_, err := db.Append("r1", Event{Type: "x"})
	var be *BlockedError
	if !errors.As(err, &be) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Append with a stopped reader: %v", err)
	}
	// It waits out TxTimeout before giving up (how much longer is the
	// benchmarks' business, not a test's).
	if el := time.Since(start); el < 600*time.Millisecond {
		t.Errorf("gave up after %v, before TxTimeout", el)
	}
	checkBlocked(t, be, reader)
	if !be.Holders[0].Stopped || !strings.Contains(err.Error(), fmt.Sprintf("stopped) holds mid-transaction; continue it (kill -CONT %d) or end it (kill %d)", reader, reader)) {
		t.Errorf("the reader is not named as stopped: %v", err)
	}
	// Nothing was written: the run still ends at seq 1 and verifies.
	if last, _, _ := db.LastEvent("r1"); last.Seq != 1 {
		t.Errorf("last seq %d", last.Seq)
	}
}

// With OnBlocked, a run keeps waiting, is told every TxTimeout who is in the
// way, and carries on once the reader is gone.
func TestStoppedReaderWarnsAndWaits(t *testing.T) {
	path := testPath(t)
	var warnings []*BlockedError
	var cmd *exec.Cmd
	db := mustOpen(t, path, Options{TxTimeout: 300 * time.Millisecond, OnBlocked: func(be *BlockedError) bool {
		warnings = append(warnings, be)
		if len(warnings) == 3 {
			cmd.Process.Kill()
		}
		return true
	}})
	defer db.Close()
	writeRun(t, db, "r1", 1)
	cmd = stalledReader(t, path)
	e, err := db.Append("r1", Event{Type: "x"})
	if err != nil || e.Seq != 2 {
		t.Fatalf("Append once the reader is gone: %+v %v", e, err)
	}
	if len(warnings) != 3 {
		t.Fatalf("%d warnings", len(warnings))
	}
	for i, be := range warnings {
		checkBlocked(t, be, cmd.Process.Pid)
		if i > 0 && be.Waited <= warnings[i-1].Waited {
			t.Errorf("warning %d: waited %v after %v", i, be.Waited, warnings[i-1].Waited)
		}
	}
	if err := db.Verify("r1"); err != nil {
		t.Fatal(err)
	}
	// OnBlocked returning false gives up.
	cmd = stalledReader(t, path)
	db.onBlocked = func(*BlockedError) bool { return false }
	if _, err := db.Append("r1", Event{Type: "y"}); !errors.Is(err, ErrLocked) {
		t.Errorf("OnBlocked said stop: %v", err)
	}
}
