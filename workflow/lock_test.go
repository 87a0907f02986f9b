package workflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

// fakeLock records acquisitions and releases; lose() makes the held lock
// report it was lost, as a failed renewal or a takeover would.
type fakeLock struct {
	mu       sync.Mutex
	holders  []LockHolder
	released int
	refuse   error
	taken    string
	held     *fakeHeld
}

type fakeHeld struct {
	l    *fakeLock
	lost chan struct{}
	once sync.Once
}

func (l *fakeLock) Acquire(_ context.Context, h LockHolder) (Held, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse != nil {
		return nil, l.refuse
	}
	l.holders = append(l.holders, h)
	l.held = &fakeHeld{l: l, lost: make(chan struct{})}
	return l.held, nil
}

func (h *fakeHeld) TakenOver() string     { return h.l.taken }
func (h *fakeHeld) Lost() <-chan struct{} { return h.lost }
func (h *fakeHeld) Err() error            { return errors.New("taken over by run other") }
func (h *fakeHeld) lose()                 { h.once.Do(func() { close(h.lost) }) }
func (h *fakeHeld) Release(context.Context) error {
	h.l.mu.Lock()
	h.l.released++
	h.l.mu.Unlock()
	return nil
}

func TestLockHeldPerInvocationAndReleasedAtGate(t *testing.T) {
	h := newHarness(t)
	lock := &fakeLock{}
	h.eng.Lock = lock
	pb := h.load(gateBook)
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusWaiting {
		t.Fatalf("start: %+v %v", out, err)
	}
	if len(lock.holders) != 1 || lock.released != 1 {
		t.Fatalf("after a pause at the gate: %d acquisitions, %d releases; want 1 and 1", len(lock.holders), lock.released)
	}
	if hd := lock.holders[0]; hd.RunID != out.RunID || hd.User != "tester" || hd.Host != "testhost" || hd.Command != "run" || hd.Since.IsZero() {
		t.Fatalf("holder %+v", hd)
	}
	if _, err := h.eng.Approve(out.RunID, "canary-ok", "", ""); err != nil {
		t.Fatal(err)
	}
	if out, err = h.resume(pb, out.RunID, nil, false); err != nil || out.Status != StatusSucceeded {
		t.Fatalf("resume: %+v %v", out, err)
	}
	if len(lock.holders) != 2 || lock.holders[1].Command != "resume" || lock.released != 2 {
		t.Fatalf("after resume: holders %+v, %d releases", lock.holders, lock.released)
	}
	if _, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb}); err != nil {
		t.Fatal(err)
	}
	if len(lock.holders) != 3 || lock.holders[2].Command != "rollback" || lock.released != 3 {
		t.Fatalf("after rollback: holders %+v, %d releases", lock.holders, lock.released)
	}
}

func TestLockRefusalLeavesNoRunAndNoForcedEvent(t *testing.T) {
	h := newHarness(t)
	refused := errors.New("held by run x of bob@elsewhere")
	h.eng.Lock = &fakeLock{refuse: refused}
	pb := h.load(threeSteps)
	if _, err := h.start(pb, nil); !errors.Is(err, refused) {
		t.Fatalf("start: %v", err)
	}
	if sums, err := h.db.Runs(0); err != nil || len(sums) != 0 {
		t.Fatalf("a refused start left runs %v (%v)", sums, err)
	}

	// A forced resume refused by the lock must not journal the override:
	// nothing was overridden.
	h.eng.Lock = nil
	out := h.startCrashing(pb, nil, 2)
	before := h.eventTypes(out.RunID)
	h.eng.Lock = &fakeLock{refuse: refused}
	changed := h.load(strings.Replace(threeSteps, "value: c", "value: c2", 1))
	if _, err := h.resume(changed, out.RunID, nil, true); !errors.Is(err, refused) {
		t.Fatalf("resume: %v", err)
	}
	if after := h.eventTypes(out.RunID); !slices.Equal(before, after) {
		t.Fatalf("events changed by a refused resume:\n%v\n%v", before, after)
	}
}

func TestLockTakeoverIsJournaled(t *testing.T) {
	h := newHarness(t)
	h.eng.Lock = &fakeLock{taken: "run old of alice@laptop, stale since 10:00"}
	out, err := h.start(h.load(threeSteps), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := h.state(out.RunID)
	if st.Events[0].Type != EvRunStarted || st.Events[1].Type != EvLockTakenOver ||
		st.Events[1].Evidence != "run old of alice@laptop, stale since 10:00" || st.Events[1].User != "tester" {
		t.Fatalf("events %+v", st.Events[:2])
	}
}

func TestLockLostInterruptsRun(t *testing.T) {
	h := newHarness(t)
	lock := &fakeLock{}
	h.eng.Lock = lock
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: blocked}
steps:
  - id: wait
    touch: {value: w, block: true}
`)
	vals, err := playbooks.Resolve(pb, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var out Outcome
	go func() {
		defer close(done)
		out, err = h.eng.Start(context.Background(), StartRequest{Playbook: pb, Origin: "test.yaml", Values: vals})
	}()
	for len(h.kinds.Calls()) == 0 {
		time.Sleep(time.Millisecond)
	}
	lock.mu.Lock()
	held := lock.held
	lock.mu.Unlock()
	held.lose()
	<-done
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "cluster lock lost: taken over by run other") {
		t.Fatalf("want an interruption naming the lost lock, got %v", err)
	}
	st := h.state(out.RunID)
	last := st.Events[len(st.Events)-1]
	if st.Status != StatusInterrupted || !strings.Contains(last.Error, "taken over by run other") {
		t.Fatalf("status %s, last event %+v", st.Status, last)
	}
	if lock.released != 1 {
		t.Fatalf("released %d times", lock.released)
	}
}

func TestTargetContextNameAloneIsNotAnotherCluster(t *testing.T) {
	was := map[string]string{"context": "prod", "server": "https://10.0.0.1", "kube-system-uid": "u1"}
	if d := TargetDiff(was, map[string]string{"context": "prod-admin", "server": "https://10.0.0.1", "kube-system-uid": "u1"}); d != "" {
		t.Fatalf("a renamed context was taken for another cluster: %s", d)
	}
	d := TargetDiff(was, map[string]string{"context": "prod", "server": "https://10.0.0.1", "kube-system-uid": "u2"})
	if !strings.Contains(d, "kube-system-uid") || !strings.Contains(d, `"u1"`) {
		t.Fatalf("diff %q", d)
	}
}
