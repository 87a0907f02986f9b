package workflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
)

// groupBook relabels, restarts and verifies each namespace in turn. restart
// uses relabel's output, which must be the same item's; post, a later
// top-level foreach step, uses verify's the same way.
const groupBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: grouped}
params:
  namespaces: {type: list, default: [ns1, ns2, ns3]}
steps:
  - id: pre
    touch: {value: pre}
  - id: move
    description: each namespace, one at a time
    foreach: "${params.namespaces}"
    maxParallel: MAXPAR
    steps:
      - id: relabel
        touch: {value: "label-${item}", hold: HOLD}
        undo: {undo: {value: "unlabel-${item}"}}
      - id: restart
        touch: {value: "restart-${steps.relabel.value}", failItem: FAILITEM}
        undo: {undo: {value: "unrestart-${item}"}}
      - id: verify
        touch: {value: "verify-${item}"}
  - id: post
    foreach: "${params.namespaces}"
    touch: {value: "post-${steps.verify.value}"}
`

func groupPlaybook(maxPar, failItem string, hold bool) string {
	return strings.NewReplacer("MAXPAR", maxPar, "FAILITEM", `"`+failItem+`"`, "HOLD", map[bool]string{true: "true", false: "false"}[hold]).Replace(groupBook)
}

// values returns the value part of each touch call.
func (h *harness) values() []string {
	var out []string
	for _, c := range h.kinds.Calls() {
		out = append(out, strings.Split(c, "|")[1])
	}
	return out
}

// assertNoRestartAfterSuccess fails if any instance started again after its
// success was journaled.
func (h *harness) assertNoRestartAfterSuccess(id string) {
	h.t.Helper()
	done := map[string]bool{}
	for _, ev := range h.state(id).Events {
		k := Key(ev.Step, ev.Item)
		switch ev.Type {
		case EvInstanceSucceed, EvInstanceChecked, EvInstanceSkipped:
			done[k] = true
		case EvInstanceStarted:
			if done[k] {
				h.t.Fatalf("%s started again at seq %d after it finished", k, ev.Seq)
			}
		}
	}
}

var itemMajor = []string{
	"pre",
	"label-ns1", "restart-label-ns1", "verify-ns1",
	"label-ns2", "restart-label-ns2", "verify-ns2",
	"label-ns3", "restart-label-ns3", "verify-ns3",
	"post-verify-ns1", "post-verify-ns2", "post-verify-ns3",
}

func TestGroupRunsItemMajor(t *testing.T) {
	h := newHarness(t)
	pb := h.load(groupPlaybook("1", "", false))
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	if got := h.values(); !slices.Equal(got, itemMajor) {
		t.Fatalf("calls %v\nwant %v", got, itemMajor)
	}
	st := h.state(out.RunID)
	if !slices.Equal(st.Items["move"], []string{"ns1", "ns2", "ns3"}) {
		t.Fatalf("frozen items %v under the group's id", st.Items)
	}
	for _, id := range []string{"relabel", "restart", "verify"} {
		if _, ok := st.Items[id]; ok {
			t.Fatalf("items frozen under the grouped step %s too", id)
		}
	}
	if err := h.db.Verify(out.RunID); err != nil {
		t.Fatal(err)
	}
}

func TestGroupMaxParallel(t *testing.T) {
	for _, tc := range []struct {
		par  string
		want int32
	}{{"1", 1}, {"2", 2}} {
		h := newHarness(t)
		h.kinds.hold = make(chan struct{})
		pb := h.load(groupPlaybook(tc.par, "", true))
		if out, err := h.start(pb, nil); err != nil || out.Status != StatusSucceeded {
			t.Fatalf("maxParallel %s: %v %v", tc.par, out.Status, err)
		}
		if got := h.kinds.peak.Load(); got != tc.want {
			t.Errorf("maxParallel %s: peak concurrency %d, want %d", tc.par, got, tc.want)
		}
		// Whatever the interleaving, each item's steps run in order.
		got := h.values()
		for _, ns := range []string{"ns1", "ns2", "ns3"} {
			var seq []string
			for _, v := range got {
				if strings.HasSuffix(v, ns) && !strings.HasPrefix(v, "post") {
					seq = append(seq, v)
				}
			}
			if want := []string{"label-" + ns, "restart-label-" + ns, "verify-" + ns}; !slices.Equal(seq, want) {
				t.Errorf("maxParallel %s: %s ran %v, want %v", tc.par, ns, seq, want)
			}
		}
		if len(got) != len(itemMajor) {
			t.Errorf("maxParallel %s: %d calls, want %d", tc.par, len(got), len(itemMajor))
		}
	}
}

func TestGroupFailureStopsTheItemAndTheRun(t *testing.T) {
	h := newHarness(t)
	pb := h.load(groupPlaybook("1", "ns2", false))
	out, err := h.start(pb, nil)
	var se *StepError
	if out.Status != StatusFailed || !errors.As(err, &se) || se.Step != "restart" || se.Item != "ns2" {
		t.Fatalf("want restart[ns2] to fail the run, got %v %v", out.Status, err)
	}
	want := []string{"pre", "label-ns1", "restart-label-ns1", "verify-ns1", "label-ns2", "restart-label-ns2"}
	if got := h.values(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v (verify[ns2], ns3 and post must not run)", got, want)
	}
	evs := h.state(out.RunID).Events
	if last := evs[len(evs)-1]; last.Type != EvRunFailed || last.Step != "restart" {
		t.Fatalf("last event %+v, want run.failed naming restart", last)
	}
	// Rolled back: newest effect first, so ns2's label, then ns1's restart
	// and label; the failed restart[ns2] is not undone (no undoFailed).
	n := len(h.kinds.Calls())
	if res, err := h.eng.Rollback(context.Background(), ResumeRequest{RunID: out.RunID, Playbook: pb}); err != nil || res.Status != StatusRolledBack {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	if got, want := h.values()[n:], []string{"unlabel-ns2", "unrestart-ns1", "unlabel-ns1"}; !slices.Equal(got, want) {
		t.Fatalf("undo calls %v, want %v", got, want)
	}
}

func TestGroupResumeAfterCrashContinuesEachItem(t *testing.T) {
	for _, par := range []string{"1", "2"} {
		for crash := 2; crash <= 10; crash++ {
			h := newHarness(t)
			pb := h.load(groupPlaybook(par, "", false))
			out := h.startCrashing(pb, nil, crash)
			before := len(h.kinds.Calls())
			res, err := h.resume(pb, out.RunID, nil, false)
			if err != nil || res.Status != StatusSucceeded {
				t.Fatalf("par %s crash %d: resume: %v %v", par, crash, res.Status, err)
			}
			h.assertNoRestartAfterSuccess(out.RunID)
			// Every effect happened; only instances cut short by the crash
			// ran twice, and with the token of their first start.
			got := h.values()
			counts := map[string]int{}
			for _, v := range got {
				counts[v]++
			}
			for _, v := range itemMajor {
				if counts[v] == 0 {
					t.Fatalf("par %s crash %d: %s never ran: %v", par, crash, v, got)
				}
			}
			calls := h.kinds.Calls()
			for i, c := range calls[before:] {
				v := strings.Split(c, "|")[1]
				if counts[v] == 1 {
					continue
				}
				first := slices.IndexFunc(calls, func(s string) bool { return strings.Split(s, "|")[1] == v })
				if first >= before || calls[first] != c {
					t.Fatalf("par %s crash %d: rerun %q (call %d) differs from the interrupted %q", par, crash, c, before+i, calls[first])
				}
			}
			if par == "1" {
				// One item at a time: the resumed run is the rest of the
				// item-major order, starting with the interrupted call.
				if want := itemMajor[crash-1:]; !slices.Equal(got[before:], want) {
					t.Fatalf("crash %d: resumed calls %v, want %v", crash, got[before:], want)
				}
			}
		}
	}
}

func TestGroupGatePausesTheItem(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: gated-group}
steps:
  - id: move
    foreach: [ns1, ns2]
    steps:
      - id: relabel
        touch: {value: "label-${item}"}
      - id: ok
        gate: {message: "test ${item}"}
      - id: restart
        touch: {value: "restart-${item}-${steps.ok.approver}"}
`)
	out, err := h.start(pb, nil)
	for _, ns := range []string{"ns1", "ns2"} {
		if err != nil || out.Status != StatusWaiting || len(out.Waiting) != 1 ||
			out.Waiting[0] != (Waiting{Step: "ok", Item: ns, Message: "test " + ns}) {
			t.Fatalf("%s: want a wait at ok[%s], got %+v %v", ns, ns, out, err)
		}
		if v := h.values(); v[len(v)-1] != "label-"+ns {
			t.Fatalf("%s: calls %v, want the gate right after label-%s", ns, v, ns)
		}
		if _, err := h.eng.Approve(out.RunID, "ok", "", ""); err != nil {
			t.Fatal(err)
		}
		out, err = h.resume(pb, out.RunID, nil, false)
	}
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("last resume: %+v %v", out, err)
	}
	want := []string{"label-ns1", "restart-ns1-tester", "label-ns2", "restart-ns2-tester"}
	if got := h.values(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

func TestGroupItemsAreFrozenAcrossResume(t *testing.T) {
	h := newHarness(t)
	// post does not use verify's outputs here: it runs over the new list.
	pb := h.load(strings.Replace(groupPlaybook("1", "", false), "post-${steps.verify.value}", "post-${item}", 1))
	out := h.startCrashing(pb, nil, 6) // inside restart[ns2]
	if _, err := h.resume(pb, out.RunID, map[string]string{"namespaces": "other"}, true); err != nil {
		t.Fatal(err)
	}
	want := []string{"restart-label-ns2", "verify-ns2", "label-ns3", "restart-label-ns3", "verify-ns3", "post-other"}
	if got := h.values()[6:]; !slices.Equal(got, want) {
		t.Fatalf("resumed calls %v, want %v (the group's items frozen; post expanded after the override)", got, want)
	}
}

func TestGroupWhenSkipsTheItemsSteps(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: when-group}
steps:
  - id: move
    foreach: [ns1, ns2, ns3]
    when: ${item} != ns2
    steps:
      - id: relabel
        touch: {value: "label-${item}"}
      - id: restart
        when: ${item} != ns3
        touch: {value: "restart-${item}"}
`)
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	if got, want := h.values(), []string{"label-ns1", "restart-ns1", "label-ns3"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	st := h.state(out.RunID)
	for _, k := range []string{"relabel[ns2]", "restart[ns2]", "restart[ns3]"} {
		if in := st.Instances[k]; in == nil || in.Status != InstSkipped {
			t.Fatalf("%s: %+v, want skipped", k, in)
		}
	}
}

func TestGroupPlanIsItemMajor(t *testing.T) {
	h := newHarness(t)
	pb := h.load(groupPlaybook("1", "", false))
	vals, err := playbooks.Resolve(pb, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Plan(pb, vals)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Group != "" && e.Group != "move" {
			t.Fatalf("entry %+v in group %s", e, e.Group)
		}
		got = append(got, Key(e.Step, e.Item))
	}
	want := []string{"pre", "relabel[ns1]", "restart[ns1]", "verify[ns1]", "relabel[ns2]", "restart[ns2]", "verify[ns2]",
		"relabel[ns3]", "restart[ns3]", "verify[ns3]", "post[ns1]", "post[ns2]", "post[ns3]"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan %v\nwant %v", got, want)
	}
	out := h.startCrashing(pb, nil, 6)
	plan, _, err := h.eng.ResumePlan(ResumeRequest{RunID: out.RunID, Playbook: pb})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, e := range plan {
		actions[Key(e.Step, e.Item)] = e.Action
	}
	if actions["verify[ns1]"] != PlanSkip || actions["restart[ns2]"] != PlanRecheck || actions["verify[ns2]"] != PlanRun || actions["relabel[ns3]"] != PlanRun {
		t.Fatalf("resume plan actions %v", actions)
	}
}

func TestGroupOverItemSource(t *testing.T) {
	h := newHarness(t)
	pb := h.load(`apiVersion: cairn/v1
kind: Playbook
metadata: {name: source-group}
steps:
  - id: move
    foreach: {list: {list: [x]}}
    steps:
      - id: one
        touch: {value: "one-${item}"}
      - id: two
        touch: {value: "two-${steps.one.value}"}
  - id: after
    touch: {value: "after-${steps.two.value}"}
`)
	out, err := h.start(pb, nil)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("run: %v %v", out.Status, err)
	}
	if got, want := h.values(), []string{"one-x", "two-one-x", "after-two-one-x"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if items := h.state(out.RunID).Items["move"]; !slices.Equal(items, []string{"x"}) {
		t.Fatalf("frozen items %v", items)
	}
}
