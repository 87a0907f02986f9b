//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// setNSLabel sets a namespace label, or removes it when value is "".
func (w *revWorld) setNSLabel(ns, key, value string) {
	t := w.h.t
	t.Helper()
	var v any = value
	if value == "" {
		v = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
	if _, err := w.h.env.Clientset.CoreV1().Namespaces().Patch(bg(t), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// tamperedPackage is a correctly signed package with a byte appended
// afterwards, so its signature no longer verifies.
func (w *revWorld) tamperedPackage() string {
	t := w.h.t
	t.Helper()
	url := w.makePackage("tampered", w.spec.newVersion, w.spec.newVersion)
	f, err := os.OpenFile(strings.TrimPrefix(url, "file://"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	return url
}

// runWithCrashesGates is harness.runWithCrashes for a playbook with several
// gates: it approves each gate the run waits at.
func (w *revWorld) runWithCrashesGates(k int, params []string, gates ...string) string {
	h, t := w.h, w.h.t
	t.Helper()
	kill := []string{fmt.Sprintf("CAIRN_KILL_AFTER=%d", k)}
	r := h.cairn(kill, append([]string{"run", w.playbook}, params...)...)
	run, kills := "", 0
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
			t.Fatalf("run not finished after %d processes; %d events", i, len(evs))
		}
		if r.code == 0 {
			for _, g := range gates {
				if gateWaiting(evs, g) {
					h.mustCairn(0, "approve", run, g)
				}
			}
		}
		r = h.cairn(kill, "resume", run)
	}
	t.Logf("K=%d: %d kills", k, kills)
	if kills < 10 {
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
