package workflow

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
)

type harness struct {
	t     *testing.T
	db    *journal.DB
	kinds *testKinds
	eng   *Engine
	path  string
	mu    sync.Mutex
	naps  []time.Duration
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.db")
	db, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{t: t, db: db, kinds: newTestKinds(), path: path}
	h.eng = New(db, h.kinds, zerolog.Nop())
	h.eng.User, h.eng.Host = "tester", "testhost"
	// Each reading of the clock is a minute later, so a token chosen anew
	// would differ from the first one.
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var tick atomic.Int64
	h.eng.Now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Minute) }
	h.eng.Sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.naps = append(h.naps, d)
		return ctx.Err()
	}
	return h
}

func (h *harness) load(src string) *playbooks.Playbook {
	h.t.Helper()
	pb, err := playbooks.Load("test.yaml", []byte(src), h.kinds)
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	return pb
}

func (h *harness) start(pb *playbooks.Playbook, set map[string]string) (Outcome, error) {
	h.t.Helper()
	vals, err := playbooks.Resolve(pb, set, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.eng.Start(context.Background(), StartRequest{Playbook: pb, Origin: "test.yaml", Values: vals})
}

// startCrashing starts a run whose n-th touch call cancels the context, as a
// SIGINT would in the middle of that step.
func (h *harness) startCrashing(pb *playbooks.Playbook, set map[string]string, n int) Outcome {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.kinds.cancel, h.kinds.crashAt = cancel, n
	defer func() { h.kinds.crashAt = 0 }()
	vals, err := playbooks.Resolve(pb, set, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := h.eng.Start(ctx, StartRequest{Playbook: pb, Origin: "test.yaml", Values: vals})
	if !errors.Is(err, ErrInterrupted) {
		h.t.Fatalf("want ErrInterrupted, got %v", err)
	}
	return out
}

func (h *harness) resume(pb *playbooks.Playbook, id string, set map[string]string, force bool) (Outcome, error) {
	return h.eng.Resume(context.Background(), ResumeRequest{RunID: id, Playbook: pb, Set: set, Force: force})
}

func (h *harness) state(id string) *State {
	st, err := h.eng.Load(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) eventTypes(id string) []string {
	var out []string
	for _, e := range h.state(id).Events {
		out = append(out, e.Type)
	}
	return out
}

const threeSteps = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: three}
params:
  v: {type: string, default: one}
steps:
  - id: a
    touch: {value: "${params.v}"}
    undo: {undo: {value: "undo-a"}}
  - id: b
    touch: {value: "b-${steps.a.value}"}
    undo: {undo: {value: "undo-b"}}
  - id: c
    touch: {value: c}
`

func TestRunToCompletionPassesOutputs(t *testing.T) {
	h := newHarness(t)
	out, err := h.start(h.load(threeSteps), nil)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	calls := h.kinds.Calls()
	if len(calls) != 3 || !strings.HasPrefix(calls[1], "touch|b-one|") {
		t.Fatalf("calls = %v", calls)
	}
	if err := h.db.Verify(out.RunID); err != nil {
		t.Fatal(err)
	}
	if st := h.state(out.RunID); st.Status != StatusSucceeded || st.Instances["b"].Outputs["value"] != "b-one" {
		t.Fatalf("state %s, b outputs %v", st.Status, st.Instances["b"].Outputs)
	}
}

func TestResumeNeverRepeatsSucceededAndReusesToken(t *testing.T) {
	h := newHarness(t)
	pb := h.load(threeSteps)
	out := h.startCrashing(pb, nil, 2) // interrupted inside b
	if st := h.state(out.RunID); st.Status != StatusInterrupted || st.Instances["b"].Status != InstRunning {
		t.Fatalf("after interrupt: run %s, b %s", st.Status, st.Instances["b"].Status)
	}
	before := h.kinds.Calls()
	res, err := h.resume(pb, out.RunID, nil, false)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("resume: %v %v", res.Status, err)
	}
	calls := h.kinds.Calls()[len(before):]
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "touch|b-one|") || !strings.HasPrefix(calls[1], "touch|c|") {
		t.Fatalf("resume ran %v; want b again then c, never a", calls)
	}
	tokOf := func(call string) string { return call[strings.LastIndex(call, "|"):] }
	if tokOf(before[1]) != tokOf(calls[0]) {
		t.Fatalf("token changed across resume: %q then %q", before[1], calls[0])
	}
	st := h.state(out.RunID)
	if len(st.Instances["b"].Attempts) != 2 || st.Resumes != 1 {
		t.Fatalf("b attempts %d, resumes %d", len(st.Instances["b"].Attempts), st.Resumes)
	}
}

func TestResumeChecksUnfinishedInstance(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: checked}
steps:
  - id: a
    touch: {value: a}
    check: {probe: {done: true}}
  - id: b
    touch: {value: b}
`)
	out := h.startCrashing(pb, nil, 1)
	if _, err := h.resume(pb, out.RunID, nil, false); err != nil {
		t.Fatal(err)
	}
	calls := h.kinds.Calls()
	if len(calls) != 2 || !strings.HasPrefix(calls[1], "touch|b|") {
		t.Fatalf("calls %v: a must not run again once its check passes", calls)
	}
	in := h.state(out.RunID).Instances["a"]
	if in.Status != InstSucceeded || in.Outputs["value"] != "from-check" {
		t.Fatalf("a: %s %v", in.Status, in.Outputs)
	}
	if !slices.Contains(h.eventTypes(out.RunID), EvInstanceChecked) {
		t.Fatal("no instance.checked event")
	}
}

func TestRetryWithBackoffAndPermanentFailure(t *testing.T) {
	h := newHarness(t)
	out, err := h.start(h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: retry}
steps:
  - id: flaky
    touch: {value: x, failTimes: 3}
    retry: {attempts: 4, initialBackoff: 2s, maxBackoff: 5s}
`), nil)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("%v %v", out.Status, err)
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second}; !slices.Equal(h.naps, want) {
		t.Fatalf("backoffs %v, want %v", h.naps, want)
	}
	if n := len(h.state(out.RunID).Instances["flaky"].Attempts); n != 4 {
		t.Fatalf("attempts %d", n)
	}

	h2 := newHarness(t)
	out, err = h2.start(h2.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: perm}
steps:
  - id: p
    touch: {value: x, failTimes: 5, permanent: true}
    retry: {attempts: 4}
`), nil)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "p" || out.Status != StatusFailed {
		t.Fatalf("want StepError for p, got %v (%s)", err, out.Status)
	}
	if len(h2.kinds.Calls()) != 1 {
		t.Fatalf("a permanent failure was retried: %v", h2.kinds.Calls())
	}
	if st := h2.state(out.RunID); st.Status != StatusFailed {
		t.Fatalf("status %s", st.Status)
	}
}

func TestTimeoutFailsStep(t *testing.T) {
	h := newHarness(t)
	out, err := h.start(h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: slow}
steps:
  - id: slow
    touch: {value: x, block: true}
    timeout: 50ms
`), nil)
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("want timeout error, got %v", err)
	}
	if st := h.state(out.RunID); st.Instances["slow"].Status != InstFailed {
		t.Fatalf("slow is %s", st.Instances["slow"].Status)
	}
}

func TestWhenSkips(t *testing.T) {
	h := newHarness(t)
	out, err := h.start(h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: when}
params:
  rev: {type: string, default: default}
steps:
  - id: plain
    touch: {value: plain}
    when: "${params.rev} == default"
  - id: revisioned
    touch: {value: rev}
    when: "${params.rev} != default"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := h.state(out.RunID)
	if st.Instances["plain"].Status != InstSucceeded || st.Instances["revisioned"].Status != InstSkipped {
		t.Fatalf("plain %s, revisioned %s", st.Instances["plain"].Status, st.Instances["revisioned"].Status)
	}
}
