package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A tool's grandchild that ignores SIGTERM and SIGHUP outlives a cairn
// killed outright (the kernel's parent-death signal reaches only the direct
// child). Resume kills it before it re-checks the step, says so in the
// journal, and its late effect never lands.
func TestResumeKillsWhatAKilledCairnLeftRunning(t *testing.T) {
	for _, c := range []struct{ cmd, effects string }{{"resume", "effect\n"}, {"rollback", "undone\n"}} {
		t.Run(c.cmd, func(t *testing.T) { testLeftoversKilled(t, c.cmd, c.effects) })
	}
}

func testLeftoversKilled(t *testing.T, command, wantEffects string) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "orphan.yaml")
	// First attempt: a grandchild that writes "late" once `release` exists,
	// and a shell that waits for it. Later attempts: the effect alone.
	script := `trap "" TERM HUP
if [ ! -e started ]; then
  touch started
  sh -c 'echo $$ > gc.pid; while [ ! -e release ]; do sleep 0.1; done; echo late >> effects' &
  wait
fi
echo effect >> effects`
	os.WriteFile(play, []byte(fmt.Sprintf(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: orphan}
steps:
  - id: tool
    exec:
      argv: [/bin/sh, -c, %q]
      dir: %q
    undoFailed: true
    undo:
      exec: {argv: [/bin/sh, -c, "echo undone >> effects"], dir: %q}
`, script, dir, dir)), 0o600)

	var stderr bytes.Buffer
	first := exec.Command(cairnBin, "--journal", j, "run", play)
	first.Stderr = &stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "gc.pid")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var grandchild int
	for grandchild == 0 {
		if b, err := os.ReadFile(pidFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		} else if ctx.Err() != nil {
			t.Fatalf("the step never started its grandchild\n%s", stderr.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() { syscall.Kill(grandchild, syscall.SIGKILL) })
	first.Process.Kill()
	first.Wait()
	if err := syscall.Kill(grandchild, 0); err != nil {
		t.Fatalf("the grandchild died with cairn (%v): nothing left over, the test proves nothing", err)
	}

	args := []string{command}
	if command == "rollback" {
		args = append(args, strings.Fields(cairn(t, j, "runs", "-q").stdout)[0])
	}
	r := cairn(t, j, args...)
	if r.code != ExitOK {
		t.Fatalf("%s: exit %d\n%s", command, r.code, r.stderr)
	}
	if alive(grandchild) {
		t.Fatalf("pid %d is still running after %s", grandchild, command)
	}
	// Were it alive, it would write "late" now.
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o600)
	if b, _ := os.ReadFile(filepath.Join(dir, "effects")); string(b) != wantEffects {
		t.Errorf("effects = %q, want %q and nothing late", b, wantEffects)
	}
	export := cairn(t, j, "journal", "export", strings.Fields(cairn(t, j, "runs", "-q").stdout)[0])
	want := fmt.Sprintf("pid %d (sh -c echo", grandchild)
	if !strings.Contains(export.stdout, `"instance.leftovers.killed"`) || !strings.Contains(export.stdout, want) {
		t.Errorf("the journal does not say what was killed (want %q):\n%s", want, export.stdout)
	}
}

// alive is false for a process that is gone or a zombie (it cannot act).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) == 0 || f[0] != "Z"
}
