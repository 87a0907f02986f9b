package workflow

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

const foreachBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: each}
params:
  namespaces: {type: list, default: [ns1, ns2, ns3]}
steps:
  - id: relabel
    foreach: "${params.namespaces}"
    touch: {value: "label-${item}"}
    undo: {undo: {value: "unlabel-${item}"}}
  - id: restart
    foreach: "${params.namespaces}"
    touch: {value: "restart-${item}"}
`

func TestForeachItemsAreFrozenAcrossResume(t *testing.T) {
	h := newHarness(t)
	pb := h.load(foreachBook)
	out := h.startCrashing(pb, nil, 2) // inside relabel[ns2]
	// The operator changes the list; with --force the run goes on, but over
	// the items frozen when the step was first expanded.
	_, err := h.resume(pb, out.RunID, map[string]string{"namespaces": "other"}, false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "parameter namespaces changed") {
		t.Fatalf("want refusal naming the parameter, got %v", err)
	}
	if _, err := h.resume(pb, out.RunID, map[string]string{"namespaces": "other"}, true); err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, c := range h.kinds.Calls() {
		values = append(values, strings.Split(c, "|")[1])
	}
	want := []string{"label-ns1", "label-ns2", "label-ns2", "label-ns3", "restart-other"}
	if !slices.Equal(values, want) {
		t.Fatalf("calls %v, want %v (relabel frozen; restart expanded after the override)", values, want)
	}
	if !slices.Contains(h.eventTypes(out.RunID), EvRunForced) {
		t.Fatal("the forced override was not journaled")
	}
}

func TestMaxParallelBoundsConcurrency(t *testing.T) {
	for _, tc := range []struct {
		par, want int32
	}{{1, 1}, {2, 2}} {
		h := newHarness(t)
		h.kinds.hold = make(chan struct{})
		pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: par}
steps:
  - id: wide
    foreach: [a, b, c, d, e]
    maxParallel: ` + string(rune('0'+tc.par)) + `
    touch: {value: "${item}", hold: true}
`)
		if _, err := h.start(pb, nil); err != nil {
			t.Fatal(err)
		}
		if got := h.kinds.peak.Load(); got != tc.want {
			t.Errorf("maxParallel %d: peak concurrency %d", tc.par, got)
		}
		if n := len(h.kinds.Calls()); n != 5 {
			t.Errorf("maxParallel %d: %d calls", tc.par, n)
		}
	}
}

const gateBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: gated}
steps:
  - id: canary
    touch: {value: canary}
    undo: {undo: {value: undo-canary}}
  - id: canary-ok
    gate: {message: "test the canary"}
  - id: rest
    touch: {value: "rest-${steps.canary-ok.approver}"}
    undo: {undo: {value: undo-rest}}
`

func TestGatePausesUntilApproved(t *testing.T) {
	h := newHarness(t)
	pb := h.load(gateBook)
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusWaiting || len(out.Waiting) != 1 || out.Waiting[0].Message != "test the canary" {
		t.Fatalf("start: %+v %v", out, err)
	}
	// Resuming before approval keeps waiting and runs nothing, and the
	// journal says so: the run reads as waiting, not running.
	if out, err = h.resume(pb, out.RunID, nil, false); err != nil || out.Status != StatusWaiting {
		t.Fatalf("resume before approval: %+v %v", out, err)
	}
	if st := h.state(out.RunID).Status; st != StatusWaiting {
		t.Fatalf("after a resume before approval the journal reads %s, want %s", st, StatusWaiting)
	}
	if _, err := h.eng.Approve(out.RunID, "rest", "", ""); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("approving a step that does not wait: %v", err)
	}
	ev, err := h.eng.Approve(out.RunID, "canary-ok", "", "looks good")
	if err != nil || ev.User != "tester" {
		t.Fatalf("approve: %+v %v", ev, err)
	}
	if out, err = h.resume(pb, out.RunID, nil, false); err != nil || out.Status != StatusSucceeded {
		t.Fatalf("resume after approval: %+v %v", out, err)
	}
	calls := h.kinds.Calls()
	if len(calls) != 2 || !strings.HasPrefix(calls[1], "touch|rest-tester|") {
		t.Fatalf("calls %v", calls)
	}
	in := h.state(out.RunID).Instances["canary-ok"]
	if in.Approver != "tester" || in.Comment != "looks good" || in.Outputs["approver"] != "tester" {
		t.Fatalf("gate state %+v", in)
	}
}

func TestRollbackUndoesInReverseAndResumes(t *testing.T) {
	h := newHarness(t)
	pb := h.load(threeSteps)
	out, err := h.start(pb, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(h.kinds.Calls())
	// Interrupt the first undo (b's), then roll back again.
	ctx, cancel := context.WithCancel(context.Background())
	h.kinds.cancel, h.kinds.crashAt = cancel, n+1
	_, err = h.eng.Rollback(ctx, ResumeRequest{RunID: out.RunID, Playbook: pb})
	cancel()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want interrupted rollback, got %v", err)
	}
	h.kinds.crashAt = 0
	res, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb})
	if err != nil || res.Status != StatusRolledBack {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	var undos []string
	for _, c := range h.kinds.Calls()[n:] {
		undos = append(undos, strings.Split(c, "|")[1])
	}
	if want := []string{"undo-b", "undo-b", "undo-a"}; !slices.Equal(undos, want) {
		t.Fatalf("undo calls %v, want %v", undos, want)
	}
	if _, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb}); !errors.Is(err, ErrNotResumable) {
		t.Fatalf("second rollback: %v", err)
	}
	if _, err := h.resume(pb, out.RunID, nil, false); !errors.Is(err, ErrNotResumable) {
		t.Fatalf("resume after rollback: %v", err)
	}
}

func TestRollbackAtGateUndoesOnlyWhatRan(t *testing.T) {
	h := newHarness(t)
	pb := h.load(gateBook)
	out, _ := h.start(pb, nil)
	if _, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb}); err != nil {
		t.Fatal(err)
	}
	calls := h.kinds.Calls()
	if len(calls) != 2 || !strings.HasPrefix(calls[1], "undo|undo-canary|") {
		t.Fatalf("calls %v", calls)
	}
}

func TestResumeRefusesChangedPlaybook(t *testing.T) {
	h := newHarness(t)
	pb := h.load(threeSteps)
	out := h.startCrashing(pb, nil, 2)
	changed := h.load(strings.Replace(threeSteps, "value: c", "value: c2", 1))
	_, err := h.resume(changed, out.RunID, nil, false)
	var re *RefusedError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &re) || re.Verb != "resume" || len(re.Diffs) != 1 || !strings.Contains(re.Diffs[0], "playbook text changed") {
		t.Fatalf("want refusal, got %v", err)
	}
	if _, err := h.resume(changed, out.RunID, nil, true); err != nil {
		t.Fatal(err)
	}
	st := h.state(out.RunID)
	var forced int
	for _, e := range st.Events {
		if e.Type == EvRunForced && e.User == "tester" {
			forced++
		}
	}
	if forced != 1 || st.Status != StatusSucceeded {
		t.Fatalf("forced events %d, status %s", forced, st.Status)
	}
}

func TestSecretsNeverReachTheJournal(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: secret}
params:
  token: {type: string, secret: true, required: true}
steps:
  - id: use
    touch: {value: "Bearer ${params.token}"}
  - id: crash
    touch: {value: after}
`)
	const secret = "s3cr3t-VALUE-9f8e"
	out := h.startCrashing(pb, map[string]string{"token": secret}, 2)
	_, err := h.resume(pb, out.RunID, nil, false)
	if err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("resume without the secret must ask for it, got %v", err)
	}
	if _, err := h.resume(pb, out.RunID, map[string]string{"token": secret}, false); err != nil {
		t.Fatal(err)
	}
	if calls := h.kinds.Calls(); !strings.Contains(calls[0], "Bearer "+secret) {
		t.Fatalf("the step did not get the secret: %v", calls)
	}
	h.db.Close()
	raw, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the secret is in the journal file")
	}
	// encoding/json may escape the angle brackets of the marker.
	if !bytes.Contains(raw, []byte("Bearer "+Redacted)) && !bytes.Contains(raw, []byte(`Bearer \u003credacted\u003e`)) {
		t.Fatal("the redacted evidence is missing; the test would pass vacuously")
	}
}

// A step marked undoFailed is undone even though it failed (an install
// that died half way); a failed step without it is not.
func TestRollbackUndoesFailedStepsMarkedUndoFailed(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: partial}
steps:
  - id: prepare
    touch: {value: prepare}
    undo: {undo: {value: unprepare}}
  - id: install
    touch: {value: install, failTimes: 9, permanent: true}
    undoFailed: true
    undo: {undo: {value: uninstall}}
  - id: never
    touch: {value: never}
    undo: {undo: {value: unnever}}
`)
	if _, err := h.start(pb, nil); err == nil {
		t.Fatal("the run should fail at install")
	}
	runs, err := h.db.Runs(1)
	if err != nil || len(runs) != 1 {
		t.Fatal(runs, err)
	}
	n := len(h.kinds.Calls())
	res, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: runs[0].Run.ID, Playbook: pb})
	if err != nil || res.Status != StatusRolledBack {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	var undos []string
	for _, c := range h.kinds.Calls()[n:] {
		undos = append(undos, strings.Split(c, "|")[1])
	}
	if want := []string{"uninstall", "unprepare"}; !slices.Equal(undos, want) {
		t.Fatalf("undo calls %v, want %v", undos, want)
	}

	// Without undoFailed the failed step is left alone.
	h2 := newHarness(t)
	pb2 := h2.load(strings.Replace(string(pb.Source), "    undoFailed: true\n", "", 1))
	if _, err := h2.start(pb2, nil); err == nil {
		t.Fatal("the run should fail at install")
	}
	runs, _ = h2.db.Runs(1)
	n = len(h2.kinds.Calls())
	if _, err := h2.eng.Rollback(context.Background(), ResumeRequest{RunID: runs[0].Run.ID, Playbook: pb2}); err != nil {
		t.Fatal(err)
	}
	if got := h2.kinds.Calls()[n:]; len(got) != 1 || !strings.Contains(got[0], "|unprepare|") {
		t.Fatalf("undo calls %v, want only unprepare", got)
	}
}

// A list that names an item twice is refused before any of its instances
// runs (D16): instances are keyed by item, so the repeats would be merged
// and reported as done.
func TestForeachRefusesDuplicateItems(t *testing.T) {
	h := newHarness(t)
	pb := h.load(foreachBook)
	_, err := h.start(pb, map[string]string{"namespaces": "ns1,ns2,ns1"})
	if err == nil || !strings.Contains(err.Error(), `step relabel: foreach: item "ns1" appears twice (items 1 and 3)`) {
		t.Fatalf("want the duplicate named, got %v", err)
	}
	if got := h.values(); len(got) != 0 {
		t.Errorf("instances ran: %v", got)
	}
}
