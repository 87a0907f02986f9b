package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
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

// A crash loop over a step whose effect is written by grandchildren that
// outlive cairn (one ignores TERM and HUP in a subshell, one sits in a
// pipeline): cairn is SIGKILLed at random moments and resumed until the run
// succeeds. Every item's effect lands exactly once: no orphan of a killed
// attempt writes after resume has checked and re-run the step (issue 14).
func TestCrashLoopWithGrandchildrenHasNoLateEffects(t *testing.T) {
	rng := rand.New(rand.NewPCG(crashSeed(t), 11))
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "orphans.yaml")
	script := `(trap "" TERM HUP; sleep 0.3; echo "done-$1" >> effects) & sleep 0.2 | cat; wait`
	os.WriteFile(play, []byte(fmt.Sprintf(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: orphans}
steps:
  - id: tool
    foreach: [a, b, c, d]
    exec:
      argv: [/bin/sh, -c, %q, sh, "${item}"]
      dir: %q
    check:
      exec: {argv: [grep, -qx, "done-${item}", effects], dir: %q}
`, script, dir, dir)), 0o600)
	os.WriteFile(filepath.Join(dir, "effects"), nil, 0o600)

	kills := 0
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("no success after %d kills", kills)
		}
		args := []string{"--journal", j, "resume"}
		if strings.TrimSpace(cairn(t, j, "runs", "-q").stdout) == "" {
			args = []string{"--journal", j, "run", play} // killed before the run was journaled
		}
		cmd := exec.Command(cairnBin, args...)
		after := time.Duration(50+rng.IntN(700)) * time.Millisecond
		if i > 12 {
			after = time.Hour // let it finish: enough kills
		}
		killed, stderr, err := runOrKill(t, cmd, after)
		if killed {
			kills++
			continue
		}
		// Killed after the run's last commit: nothing left to resume.
		finished := cmd.ProcessState.ExitCode() == ExitRefused && strings.Contains(stderr, "no unfinished run") &&
			strings.TrimSpace(cairn(t, j, "runs", "--status", "succeeded", "-q").stdout) != ""
		if err != nil && !finished {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		break
	}
	// Orphans of the last killed attempt have had their time; the reaper
	// killed them, so nothing more may land.
	time.Sleep(600 * time.Millisecond)
	effects, _ := os.ReadFile(filepath.Join(dir, "effects"))
	for _, item := range []string{"a", "b", "c", "d"} {
		if n := strings.Count(string(effects), "done-"+item+"\n"); n != 1 {
			t.Errorf("item %s: effect landed %d times, want 1 (%d kills)\n%s", item, n, kills, effects)
		}
	}
	t.Logf("%d kills", kills)
}
