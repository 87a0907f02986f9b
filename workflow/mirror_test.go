package workflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/journal"
)

// waitingJournal is a journal whose started events must reach somewhere
// else first, as the mirror in the cluster: it records the deadline each
// AppendContext had and can refuse them.
type waitingJournal struct {
	*journal.DB
	deadlines []time.Duration // time left at each AppendContext
	refuse    error
}

func (j *waitingJournal) AppendContext(ctx context.Context, runID string, e journal.Event) (journal.Event, error) {
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	j.deadlines = append(j.deadlines, left)
	stored, err := j.DB.Append(runID, e)
	if err == nil && j.refuse != nil {
		err = j.refuse
	}
	return stored, err
}

const timedBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: timed}
steps:
  - id: a
    timeout: 1h
    touch: {value: a}
  - id: b
    touch: {value: b}
`

// A step's started event goes through AppendContext under the step's
// timeout (none for a step without one); if it cannot be written where it
// must be, the step's action never runs.
func TestStartedEventWaitsWithinTheStepTimeout(t *testing.T) {
	h := newHarness(t)
	j := &waitingJournal{DB: h.db}
	h.eng.Journal = j
	pb := h.load(timedBook)
	if _, err := h.start(pb, nil); err != nil {
		t.Fatal(err)
	}
	if len(j.deadlines) != 2 || j.deadlines[0] < 59*time.Minute || j.deadlines[0] > time.Hour || j.deadlines[1] != -1 {
		t.Fatalf("time left at each started event: %v, want ~1h and no deadline", j.deadlines)
	}

	h2 := newHarness(t)
	j2 := &waitingJournal{DB: h2.db, refuse: errors.New("mirror unreachable")}
	h2.eng.Journal = j2
	_, err := h2.start(h2.load(timedBook), nil)
	if err == nil || !errors.Is(err, j2.refuse) {
		t.Fatalf("run with an unwritable started event: %v", err)
	}
	if calls := h2.kinds.Calls(); len(calls) != 0 {
		t.Fatalf("the step ran although its started event was not written: %v", calls)
	}
}

// --no-mirror is journaled with run.started and replayed, so resume keeps it.
func TestNoMirrorIsJournaled(t *testing.T) {
	h := newHarness(t)
	pb := h.load(timedBook)
	out, err := h.eng.Start(context.Background(), StartRequest{Playbook: pb, Origin: "test.yaml", NoMirror: true})
	if err != nil {
		t.Fatal(err)
	}
	if !h.state(out.RunID).NoMirror {
		t.Fatal("NoMirror not replayed from the journal")
	}
	out, err = h.start(pb, nil)
	if err != nil || h.state(out.RunID).NoMirror {
		t.Fatalf("a plain run is mirrored: %v", err)
	}
}
