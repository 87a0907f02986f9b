//go:build integration

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With --wait-lock a second run waits for the first to release the lock,
// says once whom it waits for, and goes through when it is free; one whose
// holder died waits until the lease goes stale (aged here, as if 60s had
// passed) and takes it over, journaling the takeover.
func TestWaitLockWaitsForTheHolder(t *testing.T) {
	k := newKubeRun(t)
	pb, flag := k.holdArgs()
	first := k.start("run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag)
	first.waitStarted("hold")
	holder := k.lastRun(k.journal)

	other := filepath.Join(t.TempDir(), "other.db")
	second := k.startJournal(other, "run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag, "--lock-namespace", k.ns, "--wait-lock")
	second.waitLog("the wait", func(m map[string]any) bool {
		h, _ := m["holder"].(string)
		return m["level"] == "info" && contains(h, holder) && contains(m["message"], "--wait-lock")
	})
	select {
	case <-second.done:
		t.Fatalf("the waiting run ended while the lock was held:\n%s", second.stderrText())
	case <-time.After(2 * time.Second):
	}
	release(t, flag)
	want(t, first.wait(), ExitOK)
	want(t, second.wait(), ExitOK)
	if k.lastRun(other) == "" {
		t.Fatal("the waiting run was not journaled")
	}

	// A holder that died: its lease is taken over once stale.
	dead := filepath.Join(t.TempDir(), "dead.db")
	flag2 := filepath.Join(k.dir, "flag2")
	victim := k.startJournal(dead, "run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag2, "--lock-namespace", k.ns)
	victim.waitStarted("hold")
	_ = victim.cmd.Process.Kill()
	<-victim.done
	third := filepath.Join(t.TempDir(), "third.db")
	release(t, flag2)
	waiter := k.startJournal(third, "run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag2, "--lock-namespace", k.ns, "--wait-lock")
	waiter.waitLog("the wait", func(m map[string]any) bool { return contains(m["message"], "--wait-lock") })
	k.ageLease()
	want(t, waiter.wait(), ExitOK, "lock.takenover")
}

func contains(v any, sub string) bool {
	s, _ := v.(string)
	return sub != "" && strings.Contains(s, sub)
}
