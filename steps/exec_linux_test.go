package steps

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "CAIRN_STEPS_HELPER_PIDFILE"

// TestExecHelperKilledMidRun is the process TestExecChildDiesWithCairn kills.
func TestExecHelperKilledMidRun(t *testing.T) {
	pidFile := os.Getenv(helperEnv)
	if pidFile == "" {
		t.Skip("helper process for TestExecChildDiesWithCairn")
	}
	go func() {
		for {
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	runExec(t, t.Context(), &ExecParams{Argv: sh(`echo $$ > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; exec sleep 100`)})
	t.Fatal("Run returned before the helper was killed")
}

// A cairn killed outright must not leave its child running: it could apply
// its effect after a resume's check had already looked for it.
func TestExecChildDiesWithCairn(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], "-test.run=^TestExecHelperKilledMidRun$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+pidFile)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v\n%s", err, out)
	}
	waitGone(t, readPid(t, pidFile))
}
