//go:build integration

package e2e

import "fmt"

// crashEvery are the kill periods of the crash tests: every process is
// killed after that many journal commits. A resume commits run.resumed and
// lock.takenover, re-checks the instance the kill interrupted (check.started,
// then instance.checked, or check.failed and instance.started again) and
// only then finishes a side effect: a period of 5 or less could kill every
// resume before it gets anywhere.
var crashEvery = []int{6, 7}

// runWithCrashes runs playbook with the failpoint CAIRN_KILL_AFTER=k in
// every process, resuming after each kill and approving each of gates when
// the run pauses there, until the run succeeds. It returns the run id.
func (h *harness) runWithCrashes(k int, playbook string, params []string, gates ...string) string {
	h.t.Helper()
	return h.runWithCrashesAt(k, playbook, params, func(run, gate string) { h.mustCairn(0, "approve", run, gate) }, gates...)
}

// runWithCrashesAt is runWithCrashes with approve called for each gate the
// run waits at instead of a plain `cairn approve`.
func (h *harness) runWithCrashesAt(k int, playbook string, params []string, approve func(run, gate string), gates ...string) string {
	t := h.t
	t.Helper()
	kill := []string{fmt.Sprintf("CAIRN_KILL_AFTER=%d", k)}
	r := h.cairn(kill, append([]string{"run", playbook}, params...)...)
	run := ""
	kills := 0
	for i := 0; ; i++ {
		if r.code == -1 { // SIGKILL
			kills++
		} else if r.code != 0 {
			t.Fatalf("cairn exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if run == "" {
			run = h.lastRun()
		}
		evs := h.events(run)
		if hasEvent(evs, "run.succeeded") {
			break
		}
		if i > 400 {
			var names []string
			for _, ev := range evs[max(0, len(evs)-12):] {
				names = append(names, fmt.Sprint(ev["type"], " ", ev["step"]))
			}
			t.Fatalf("run not finished after %d processes; %d events, last %q\n%s\n%s", i, len(evs), names, r.stdout, r.stderr)
		}
		if r.code == 0 {
			for _, g := range gates {
				if gateWaiting(evs, g) {
					approve(run, g)
				}
			}
		}
		r = h.cairn(kill, "resume", run)
	}
	t.Logf("K=%d: %d kills", k, kills)
	// The shortest playbook (anthos-bm-upgrade) is killed 6 times at k=7.
	if kills < 5 {
		t.Errorf("only %d kills", kills)
	}
	return run
}

// gateWaiting tells whether the run waits at gate (waiting, not approved).
func gateWaiting(evs []map[string]any, gate string) bool {
	waiting, approved := false, false
	for _, ev := range evs {
		if ev["step"] != gate {
			continue
		}
		switch ev["type"] {
		case "gate.waiting":
			waiting = true
		case "gate.approved":
			approved = true
		}
	}
	return waiting && !approved
}

// assertNoRerun checks that no instance started again after its success
// was journaled.
func (h *harness) assertNoRerun(run string) {
	h.t.Helper()
	done := map[string]bool{}
	for _, ev := range h.events(run) {
		key := fmt.Sprint(ev["step"], "/", ev["item"])
		switch ev["type"] {
		case "instance.succeeded":
			done[key] = true
		case "instance.started":
			if done[key] {
				h.t.Errorf("%s started again after it succeeded", key)
			}
		}
	}
}

func hasEvent(evs []map[string]any, name string) bool {
	for _, ev := range evs {
		if ev["type"] == name {
			return true
		}
	}
	return false
}

// assertItemByItem checks that a step group's steps (in their order) ran
// one item at a time: each item went through them in order, and the next
// item's first step started only after the previous item's last step
// succeeded. It returns the items in the order they ran.
func (h *harness) assertItemByItem(run string, steps ...string) []string {
	t := h.t
	t.Helper()
	idx := map[string]int{}
	for i, s := range steps {
		idx[s] = i
	}
	var items []string
	cur, next := "", 0 // next: the step cur must run next
	for _, ev := range h.events(run) {
		step, _ := ev["step"].(string)
		item, _ := ev["item"].(string)
		i, ok := idx[step]
		if !ok {
			continue
		}
		switch ev["type"] {
		case "instance.started":
			if item != cur {
				if cur != "" && next != len(steps) {
					t.Errorf("%s[%s] started while %s had run only %d of its %d steps", step, item, cur, next, len(steps))
				}
				cur, next = item, 0
				items = append(items, item)
			}
			if i != next {
				t.Errorf("%s[%s] started out of order (expected %s next)", step, item, steps[min(next, len(steps)-1)])
			}
		case "instance.succeeded", "instance.checked":
			if item != cur || i != next {
				t.Errorf("%s[%s] finished out of order", step, item)
			}
			next = i + 1
		}
	}
	if cur != "" && next != len(steps) {
		t.Errorf("the last item %s ran only %d of its %d steps", cur, next, len(steps))
	}
	return items
}
