//go:build integration

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
)

// TestAsmcliCanaryDemo is make demo's scenario (testdata/demo/demo.sh): the
// canary upgrade asm-1130-0 -> asm-1140-0 is killed with SIGKILL from
// outside while it restarts the last app namespace, `resume --plan` shows
// what resume will do, resume goes on to the gate, a person approves it
// with a comment, resume finishes. The demo's checks hold (asmcli install
// ran once, nothing journaled as done ran again, every Deployment
// restarted exactly once, only the new control plane left); then the
// run's audit report is opened in headless chromium with the browser
// test's checks and its screenshot kept as demo-report.png in the test
// artifacts (cairntest.ArtifactDir), its path logged.
func TestAsmcliCanaryDemo(t *testing.T) {
	w := newAsmWorld(t)
	h := w.h
	killed := w.apps[len(w.apps)-1]
	run := w.killWhileRestarting(killed)

	plan := h.mustCairn(0, "resume", "--plan", run)
	key := "app-restart[" + killed + "]"
	if inFlight := lastInstanceEvent(h.events(run), "app-restart", killed) == "instance.started"; inFlight &&
		!regexp.MustCompile(`(?m)^\d+\s+`+regexp.QuoteMeta(key)+`\s+\S+\s+re-check\s`).MatchString(plan.stdout) {
		t.Errorf("resume --plan does not re-check %s, killed in flight:\n%s", key, plan.stdout)
	}
	r := h.mustCairn(0, "resume", run)
	if !strings.Contains(r.stdout, "waiting for approval") || !strings.Contains(r.stdout, "ready-to-remove-old") {
		t.Fatalf("resume did not stop at the gate:\n%s", r.stdout)
	}
	comment := "frontend, checkout and inventory healthy on " + asmNewRev + " for 15 minutes"
	h.mustCairn(0, "approve", run, "ready-to-remove-old", "--comment", comment)
	h.mustCairn(0, "resume", run)

	evs := h.events(run)
	for _, want := range []string{"run.succeeded", "run.resumed", "lock.takenover"} {
		if !hasEvent(evs, want) {
			t.Errorf("the run journaled no %s", want)
		}
	}
	h.assertNoRerun(run)
	if n := h.fakeCalls("install"); n != 1 {
		t.Errorf("asmcli install ran %d times, want 1", n)
	}
	for _, ns := range w.namespaces() {
		for dep, n := range h.replicaSets(ns) {
			if n != 2 {
				t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
			}
		}
	}
	if w.istiodExists(asmOldRev) || !w.istiodExists(asmNewRev) {
		t.Errorf("istiod %s present %v, %s present %v", asmOldRev, w.istiodExists(asmOldRev), asmNewRev, w.istiodExists(asmNewRev))
	}
	h.mustCairn(0, "journal", "verify", run)

	report := filepath.Join(h.dir, "cairn-report-"+run+".html")
	if r := h.mustCairn(0, "report", run, "-o", report); strings.TrimSpace(r.stdout) != report {
		t.Errorf("report printed %q, want its path %s", r.stdout, report)
	}
	// Every instance, the approval, the chain's verification, and the
	// points where the process was killed and the run taken up again.
	want := []string{run, "succeeded", "verified", comment, "run.resumed", "lock.takenover", "without journaling why (killed"}
	seen := map[string]bool{}
	for _, ev := range evs {
		step, _ := ev["step"].(string)
		item, _ := ev["item"].(string)
		if k := instanceKey(step, item); step != "" && !seen[k] {
			seen[k] = true
			want = append(want, k)
		}
	}
	if len(seen) < 30 {
		t.Fatalf("only %d instances in the run's events", len(seen))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := cairntest.StartBrowser(ctx, t)
	cairntest.CheckReport(t, b, report, want...)
	shot := filepath.Join(cairntest.ArtifactDir(t), "demo-report.png")
	if err := b.Screenshot(shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cairntest.CheckPNG(t, shot, 800, 2000, 100<<10)
	t.Logf("screenshot of the demo run's report: %s", shot)
}

// killWhileRestarting starts the upgrade and SIGKILLs it, as the demo
// does, once it journals the start of restarting namespace ns. It returns
// the run id.
func (w *asmWorld) killWhileRestarting(ns string) string {
	h := w.h
	t := h.t
	t.Helper()
	cmd := h.command(nil, append([]string{"run", w.playbook}, w.params()...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	step := instanceKey("app-restart", ns)
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := false
	for !found && sc.Scan() {
		fmt.Fprintln(&log, sc.Text())
		var m struct{ Message, Step string }
		found = json.Unmarshal(sc.Bytes(), &m) == nil && m.Message == "instance.started" && m.Step == step
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	if !found {
		t.Fatalf("the run ended (%v) before it restarted %s:\n%s", err, ns, log.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the run was not killed by SIGKILL: %v", err)
	}
	run := h.lastRun()
	if evs := h.events(run); hasEvent(evs, "gate.waiting") || hasEvent(evs, "run.succeeded") {
		t.Fatalf("the run got past the restarts before the kill")
	}
	return run
}

func instanceKey(step, item string) string {
	if item == "" {
		return step
	}
	return step + "[" + item + "]"
}

// lastInstanceEvent is the type of the last instance.* event of an
// instance.
func lastInstanceEvent(evs []map[string]any, step, item string) string {
	last := ""
	for _, ev := range evs {
		typ, _ := ev["type"].(string)
		it, _ := ev["item"].(string)
		if ev["step"] == step && it == item && strings.HasPrefix(typ, "instance.") {
			last = typ
		}
	}
	return last
}
