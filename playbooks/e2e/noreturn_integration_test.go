//go:build integration

package e2e

import (
	"os"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
)

// assertPastNoReturn checks a run that has passed its point of no return:
// the gate was approved before the irreversible step started, and
// `cairn rollback` (and its --plan) refuses with exit 4, naming the step,
// and changes nothing: no event is journaled and no tool runs. The caller
// checks the cluster is as the run left it.
func (h *harness) assertPastNoReturn(run, gate, step string) {
	t := h.t
	t.Helper()
	evs := h.events(run)
	approved, started := -1, -1
	for i, ev := range evs {
		switch {
		case ev["type"] == "gate.approved" && ev["step"] == gate && approved < 0:
			approved = i
		case ev["type"] == "instance.started" && ev["step"] == step && started < 0:
			started = i
		}
	}
	if approved < 0 || started < 0 || approved > started {
		t.Errorf("gate %s approved at event %d, irreversible step %s started at %d: the approval must come first", gate, approved, step, started)
	}
	calls := h.fakeLogLines()
	for _, args := range [][]string{{"rollback", run}, {"rollback", run, "--plan"}} {
		r := h.cairn(nil, args...)
		if r.code != 4 || !strings.Contains(r.stderr, "point of no return") || !strings.Contains(r.stderr, "step "+step) {
			t.Errorf("cairn %v past the point of no return: exit %d, want 4 naming step %s\n%s\n%s", args, r.code, step, r.stdout, r.stderr)
		}
	}
	if n := len(h.events(run)); n != len(evs) {
		t.Errorf("a refused rollback journaled %d events", n-len(evs))
	}
	if n := h.fakeLogLines(); n != calls {
		t.Errorf("a refused rollback ran %d tools", n-calls)
	}
}

// fakeLogLines is how many tool invocations the fakebins log holds.
func (h *harness) fakeLogLines() int {
	h.t.Helper()
	data, err := os.ReadFile(h.fakeLog)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// currentContext is the current context of a kubeconfig file.
func (h *harness) currentContext(kubeconfig string) string {
	h.t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg.CurrentContext
}
