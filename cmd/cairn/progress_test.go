package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

func TestProgressShowsForeachBatchAndLatestMessage(t *testing.T) {
	var logs bytes.Buffer
	p := newProgress(zerolog.New(&logs), nil)
	p.update(workflow.Update{Event: journal.Event{Type: workflow.EvItemsFrozen, Step: "move-rest"}, Run: workflow.StatusRunning,
		Items: []string{"app-1", "app-2", "app-3", "app-4", "app-5"}})
	inst := func(typ, item string, st workflow.InstanceStatus) workflow.Update {
		return workflow.Update{Event: journal.Event{Type: typ, Step: "move-rest", Item: item}, Run: workflow.StatusRunning,
			Instance: &workflow.Instance{Step: "move-rest", Item: item, Status: st, Undo: workflow.InstPending}}
	}
	for _, it := range []string{"app-1", "app-2", "app-3"} {
		p.update(inst(workflow.EvInstanceStarted, it, workflow.InstRunning))
	}
	p.update(inst(workflow.EvInstanceSucceed, "app-1", workflow.InstSucceeded))
	p.step("move-rest", "app-2", "1 of 2 updated replicas available")

	got := p.render(time.Now())
	want := "move-rest: 1/5 done, running [app-2 app-3], pending 2 · app-2: 1 of 2 updated replicas available ("
	if !strings.HasPrefix(got, want) {
		t.Fatalf("status line\n got %q\nwant %q...", got, want)
	}
	if !strings.Contains(logs.String(), `"batch":"1/5 done, running [app-2 app-3], pending 2"`) {
		t.Fatalf("the finished item's log line lacks the batch summary:\n%s", logs.String())
	}
	p.update(workflow.Update{Event: journal.Event{Type: workflow.EvRunInterrupted}, Run: workflow.StatusInterrupted})
	if got := p.render(time.Now()); got != "" {
		t.Fatalf("status line after the run ended: %q", got)
	}
}

func TestProgressLogsIdenticalMessagesOnce(t *testing.T) {
	var logs bytes.Buffer
	p := newProgress(zerolog.New(&logs), nil)
	for range 5 {
		p.step("wait", "", "0 of 2 ready")
	}
	p.step("wait", "", "1 of 2 ready")
	p.step("wait", "", "1 of 2 ready")
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Fatalf("%d progress lines logged, want 2 (one per distinct message):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"level":"info"`) {
		t.Fatalf("without a terminal progress is logged at info:\n%s", logs.String())
	}
}

func TestStatusLineRedrawsBelowLogLines(t *testing.T) {
	var out bytes.Buffer
	s := newStatusLine(&out)
	s.set("step: running (3s)")
	_, _ = s.Write([]byte("a log line\n"))
	s.clear()
	want := eraseLine + "step: running (3s)" + eraseLine + "a log line\n" + "step: running (3s)" + eraseLine
	if out.String() != want {
		t.Fatalf("terminal output\n got %q\nwant %q", out.String(), want)
	}
	if got := fit("move-rest: 3/10 done · app-4", 12); got != "move-rest: …" {
		t.Fatalf("fit: %q", got)
	}
}

// Without a terminal each output line is an info line with its step and
// stream (and run, in JSON); with the status line it shows there and goes
// to debug.
func TestProgressOutputLines(t *testing.T) {
	var logs bytes.Buffer
	p := newProgress(zerolog.New(&logs), nil)
	p.tagRun = true
	p.update(workflow.Update{Event: journal.Event{Type: workflow.EvRunStarted}, RunID: "r1", Run: workflow.StatusRunning})
	p.output("upgrade", "", "", "stderr", "waiting for machines")
	if !strings.Contains(logs.String(), `{"level":"info","run":"r1","step":"upgrade","stream":"stderr","message":"waiting for machines"}`) {
		t.Fatalf("output line:\n%s", logs.String())
	}

	logs.Reset()
	var term bytes.Buffer
	p = newProgress(zerolog.New(&logs).Level(zerolog.InfoLevel), newStatusLine(&term))
	p.update(workflow.Update{Event: journal.Event{Type: workflow.EvInstanceStarted, Step: "upgrade"}, Run: workflow.StatusRunning,
		Instance: &workflow.Instance{Step: "upgrade", Status: workflow.InstRunning, Undo: workflow.InstPending}})
	p.output("upgrade", "", "", "stdout", "node 3/5 upgraded")
	p.stop()
	if strings.Contains(logs.String(), "node 3/5") {
		t.Fatalf("output logged at info under a status line:\n%s", logs.String())
	}
	if got := p.render(time.Now()); !strings.HasPrefix(got, "upgrade: node 3/5 upgraded (") {
		t.Fatalf("status line %q", got)
	}
}
