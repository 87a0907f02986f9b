package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const pointOfNoReturn = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: pnr}
steps:
  - id: a
    touch: {value: a}
    undo: {undo: {value: undo-a}}
  - id: ok
    gate: {message: "delete the old control plane?"}
  - id: delete-old
    description: Remove the old control plane
    touch: {value: deleted}
    irreversible: the old revision's istiod is gone; workloads cannot be moved back to it
  - id: c
    touch: {value: c}
    undo: {undo: {value: undo-c}}
`

// Before the irreversible step starts, rollback undoes what was done and
// its plan says so; once it has started, both refuse, naming the step and
// the reason, and nothing is undone.
func TestRollbackRefusedPastPointOfNoReturn(t *testing.T) {
	h := newHarness(t)
	pb := h.load(pointOfNoReturn)
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusWaiting {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	plan, err := h.eng.RollbackPlan(out.RunID, pb, nil)
	if err != nil || len(plan) != 1 || plan[0].Step != "a" || plan[0].Action != PlanRun || plan[0].Kind != "undo" {
		t.Fatalf("rollback plan before the point of no return: %+v, %v", plan, err)
	}
	if _, err := h.eng.Approve(out.RunID, "ok", "", "go"); err != nil {
		t.Fatal(err)
	}
	if out, err = h.resume(pb, out.RunID, nil, false); err != nil || out.Status != StatusSucceeded {
		t.Fatalf("resume: %v %v", out.Status, err)
	}
	calls := len(h.kinds.Calls())
	_, err = h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb, Force: true})
	var pnr *PastNoReturnError
	if !errors.Is(err, ErrPastNoReturn) || !errors.As(err, &pnr) || pnr.Step != "delete-old" ||
		!strings.Contains(err.Error(), "Remove the old control plane") || !strings.Contains(err.Error(), "workloads cannot be moved back") {
		t.Fatalf("rollback past the point of no return: %v", err)
	}
	if n := len(h.kinds.Calls()); n != calls {
		t.Errorf("a refused rollback ran %d undos", n-calls)
	}
	if last := h.eventTypes(out.RunID); last[len(last)-1] != EvRunSucceeded {
		t.Errorf("a refused rollback journaled %s", last[len(last)-1])
	}
	if _, err := h.eng.RollbackPlan(out.RunID, pb, nil); !errors.Is(err, ErrPastNoReturn) {
		t.Errorf("rollback plan past the point of no return: %v", err)
	}
}

// An irreversible step that was started and interrupted counts as passed:
// its effect may already be there.
func TestInterruptedIrreversibleStepCountsAsPassed(t *testing.T) {
	h := newHarness(t)
	pb := h.load(pointOfNoReturn)
	out, _ := h.start(pb, nil)
	if _, err := h.eng.Approve(out.RunID, "ok", "", ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.kinds.cancel, h.kinds.crashAt = cancel, 2 // a's touch was the first
	_, err := h.eng.Resume(ctx, ResumeRequest{RunID: out.RunID, Playbook: pb})
	h.kinds.crashAt = 0
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want the resume interrupted in delete-old, got %v", err)
	}
	if st := h.state(out.RunID).Instances["delete-old"]; st == nil || st.Status != InstRunning {
		t.Fatalf("delete-old = %+v", st)
	}
	if _, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb}); !errors.Is(err, ErrPastNoReturn) {
		t.Fatalf("rollback after an interrupted irreversible step: %v", err)
	}
}
