package steps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const leftoverEnv = "CAIRN_STEPS_LEFTOVER_PIDFILE"

// TestLeftoverHelperKilledMidRun is the cairn TestReapKillsLeftovers kills:
// its step's shell ignores SIGTERM and SIGHUP and starts a grandchild,
// which the parent-death signal (sent to the shell only) does not reach.
func TestLeftoverHelperKilledMidRun(t *testing.T) {
	pidFile := os.Getenv(leftoverEnv)
	if pidFile == "" {
		t.Skip("helper process for TestReapKillsLeftovers")
	}
	go func() {
		for {
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	runExec(t, t.Context(), &ExecParams{Argv: sh(`trap "" TERM HUP; sh -c 'echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 100' ` + pidFile + ` & wait`)})
	t.Fatal("Run returned before the helper was killed")
}

func TestReapKillsLeftovers(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeftoverHelperKilledMidRun$", "-test.count=1")
	cmd.Env = append(os.Environ(), leftoverEnv+"="+pidFile)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v\n%s", err, out)
	}
	grandchild := readPid(t, pidFile)
	t.Cleanup(func() { syscall.Kill(grandchild, syscall.SIGKILL) })
	if err := syscall.Kill(grandchild, 0); err != nil {
		t.Fatalf("the grandchild did not outlive the killed cairn (%v): nothing to reap, the test proves nothing", err)
	}
	// Another item's process of the same run and step is not a leftover of
	// this instance.
	other := exec.Command("sleep", "100")
	other.Env = append(os.Environ(), "CAIRN_RUN_ID=r1", "CAIRN_STEP_ID=s1", "CAIRN_ITEM=ns-b")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found, err := Reaper{}.Reap(ctx, "r1", "s1", "ns-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].PID != grandchild || !strings.Contains(found[0].Command, "sleep 100") {
		t.Fatalf("found %v, want the grandchild pid %d", found, grandchild)
	}
	waitGone(t, grandchild)
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("another item's process was killed: %v", err)
	}
	if found, err := (Reaper{}).Reap(ctx, "r1", "s1", "ns-a"); err != nil || len(found) != 0 {
		t.Errorf("second reap: %v %v", found, err)
	}
}
