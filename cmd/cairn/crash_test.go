package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var wantEffects = []string{"each one", "each three", "each two", "first", "last",
	"move-a one", "move-a three", "move-a two", "move-b one", "move-b three", "move-b two",
	"wide a", "wide b", "wide c", "wide d"}

type crashRun struct {
	t       *testing.T
	dir     string
	effects string
	journal string
}

func newCrashRun(t *testing.T) *crashRun {
	dir := t.TempDir()
	return &crashRun{t: t, dir: dir, effects: filepath.Join(dir, "effects.log"), journal: filepath.Join(dir, "journal.db")}
}

func (c *crashRun) cmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(cairnBin, append([]string{"--log-format", "json", "--journal", c.journal}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func (c *crashRun) start(env ...string) *exec.Cmd {
	return c.cmd(env, "run", filepath.Join(repoRoot, "testdata/crash/effects.yaml"), "-p", "effects="+c.effects)
}

// resumeToEnd resumes until the run succeeds.
func (c *crashRun) resumeToEnd() {
	c.t.Helper()
	for i := 0; i < 5; i++ {
		out, err := c.cmd(nil, "resume").CombinedOutput()
		if err == nil {
			return
		}
		if strings.Contains(string(out), "no unfinished run") {
			return
		}
		c.t.Logf("resume %d: %v\n%s", i, err, out)
	}
	c.t.Fatal("the run did not finish after 5 resumes")
}

// assertExactlyOnce checks the effects file, the journal's integrity, and
// that no instance started again after its success was journaled.
func (c *crashRun) assertExactlyOnce(label string) {
	c.t.Helper()
	raw, err := os.ReadFile(c.effects)
	if err != nil {
		c.t.Fatalf("%s: %v", label, err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	sort.Strings(lines)
	if !slices.Equal(lines, wantEffects) {
		c.t.Fatalf("%s: effects %q, want each of %q exactly once", label, lines, wantEffects)
	}
	if out, err := c.cmd(nil, "journal", "verify").CombinedOutput(); err != nil {
		c.t.Fatalf("%s: journal verify: %v\n%s", label, err, out)
	}
	ids, err := c.cmd(nil, "runs", "-q").Output()
	if err != nil {
		c.t.Fatalf("%s: runs: %v", label, err)
	}
	id := strings.TrimSpace(string(ids))
	out, err := c.cmd(nil, "journal", "export", id).Output()
	if err != nil {
		c.t.Fatalf("%s: export: %v", label, err)
	}
	wantNoStartAfterSuccess(c.t, label, string(out))
}

func killedBySignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// TestCrashMatrix kills the real binary right after each journal commit of a
// run, resumes it to the end, and checks every effect happened exactly once.
func TestCrashMatrix(t *testing.T) {
	base := newCrashRun(t)
	if out, err := base.start().CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	base.assertExactlyOnce("uninterrupted")
	events, err := base.cmd(nil, "journal", "export", strings.TrimSpace(mustOutput(t, base.cmd(nil, "runs", "-q")))).Output()
	if err != nil {
		t.Fatal(err)
	}
	total := bytes.Count(events, []byte(`{"event":`))
	if total < 20 {
		t.Fatalf("only %d events in an uninterrupted run", total)
	}
	for n := 1; n <= total; n++ {
		c := newCrashRun(t)
		err := c.start(fmt.Sprintf("CAIRN_KILL_AFTER=%d", n)).Run()
		if n < total && !killedBySignal(err) {
			t.Fatalf("kill after commit %d: the run was not killed (%v)", n, err)
		}
		c.resumeToEnd()
		c.assertExactlyOnce(fmt.Sprintf("kill after commit %d/%d", n, total))
	}
}

// TestCrashAtRandomTimes kills the run at random moments, which also lands
// between a side effect and the commit that records it.
func TestCrashAtRandomTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(crashSeed(t), 7))
	for i := 0; i < 8; i++ {
		c := newCrashRun(t)
		cmd := c.start()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.IntN(700)) * time.Millisecond
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if _, err := os.Stat(c.journal); err != nil {
			continue // killed before the journal existed: nothing to resume
		}
		// Killed after the journal was created but before the run record:
		// nothing ran, so there is nothing to resume either.
		if ids := strings.TrimSpace(mustOutput(t, c.cmd(nil, "runs", "-q"))); ids == "" {
			continue
		}
		c.resumeToEnd()
		if _, err := os.Stat(c.effects); errors.Is(err, os.ErrNotExist) {
			t.Fatalf("kill after %s: resume finished but no effect happened", delay)
		}
		c.assertExactlyOnce(fmt.Sprintf("kill after %s", delay))
	}
}

// crashSeed is the random kill times' seed: $CAIRN_CRASH_SEED replays a
// failed run, and the seed of every run is logged so that it can be.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAIRN_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("kill times from seed %d (replay: CAIRN_CRASH_SEED=%d go test -run %s ./cmd/cairn)", seed, seed, t.Name())
	return seed
}

func mustOutput(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out)
}

// wantNoStartAfterSuccess reads a journal export: no instance may start
// again once its success (or a re-check that found it done) is journaled.
func wantNoStartAfterSuccess(t *testing.T, label, export string) {
	t.Helper()
	done := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(export))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line struct {
			Event *struct {
				Type, Step, Item string
				Seq              uint64
			} `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: export line %q: %v", label, sc.Text(), err)
		}
		if line.Event == nil {
			continue
		}
		key := line.Event.Step + "[" + line.Event.Item + "]"
		switch line.Event.Type {
		case "instance.succeeded", "instance.checked":
			done[key] = true
		case "instance.started":
			if done[key] {
				t.Fatalf("%s: %s started again at seq %d after it was done", label, key, line.Event.Seq)
			}
		}
	}
}

// runOrKill runs cmd, a cairn command, and SIGKILLs it after d unless it
// ends first: killed, or how it ended and what it said on stderr.
func runOrKill(t *testing.T, cmd *exec.Cmd, d time.Duration) (killed bool, stderr string, err error) {
	t.Helper()
	var buf bytes.Buffer
	cmd.Stderr = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		return false, buf.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return true, buf.String(), nil
	}
}
