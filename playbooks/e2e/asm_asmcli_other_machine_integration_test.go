//go:build integration

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
)

// The built-in asm-asmcli-canary, killed midway on machine 1, whose
// journal is then lost; machine 2 resumes it from the cluster's journal
// mirror with an empty journal, approves the gate and finishes. asmcli
// install ran once (the doubles' invocation log), every Deployment was
// restarted once, nothing journaled as done started again, the second
// journal verifies and the mirror holds the same history.
func TestAsmcliCanaryResumedFromAnotherMachine(t *testing.T) {
	w := newAsmWorld(t)
	h := w.h
	// Killed as it starts restarting the first app namespace: past the
	// install and the gateway, its started event journaled and mirrored.
	r := h.cairn([]string{"CAIRN_KILL_AT=instance.started:app-restart"}, append([]string{"run", w.playbook}, w.params()...)...)
	if r.code != -1 {
		t.Fatalf("not killed (exit %d)\n%s", r.code, r.stderr)
	}
	run := h.lastRun()
	if err := os.Remove(h.journal); err != nil {
		t.Fatal(err)
	}
	h.journal = filepath.Join(t.TempDir(), "machine-2.db")

	// The lease the killed process held goes stale; --wait-lock waits for
	// that (aged here rather than waited for).
	go func() {
		time.Sleep(2 * time.Second)
		le, err := h.env.Clientset.CoordinationV1().Leases(h.lockNS).Get(bg(t), cluster.DefaultLockName, metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		old := metav1.NewMicroTime(time.Now().Add(-time.Hour))
		le.Spec.RenewTime, le.Spec.AcquireTime = &old, &old
		if _, err := h.env.Clientset.CoordinationV1().Leases(h.lockNS).Update(bg(t), le, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	r = h.mustCairn(0, "resume", "--from-cluster", run, "--wait-lock")
	if !strings.Contains(r.stderr, "imported the run from the cluster's journal mirror") || !strings.Contains(r.stderr, "lock.takenover") {
		t.Errorf("resume --from-cluster said:\n%s", r.stderr)
	}
	h.mustCairn(0, "approve", run, "ready-to-remove-old")
	h.mustCairn(0, "resume", run)

	h.assertNoRerun(run)
	if !hasEvent(h.events(run), "run.succeeded") {
		t.Fatal("the run did not succeed")
	}
	if n := h.fakeCalls("install"); n != 1 {
		t.Errorf("asmcli install ran %d times, want 1", n)
	}
	if w.istiodExists(asmOldRev) || !w.istiodExists(asmNewRev) || w.tagRev() != asmNewRev {
		t.Errorf("istiod %s present %v, %s present %v, tag on %s", asmOldRev, w.istiodExists(asmOldRev), asmNewRev, w.istiodExists(asmNewRev), w.tagRev())
	}
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, asmNewRelease, 30*time.Second)
		for dep, n := range h.replicaSets(ns) {
			if n != 2 {
				t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
			}
		}
	}
	h.mustCairn(0, "journal", "verify", run)
	h.mustCairn(0, "journal", "verify", "--cluster", run, "--lock-namespace", h.lockNS)
	local := h.mustCairn(0, "journal", "export", run).stdout
	if mirror := h.mustCairn(0, "journal", "export", "--cluster", run, "--lock-namespace", h.lockNS).stdout; mirror != local {
		t.Errorf("the mirror is not the second journal's history:\n%s\njournal:\n%s", mirror, local)
	}
}
