//go:build integration

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runToCanaryGate starts the run and checks that it paused at the canary
// gate with the canary moved and the other namespaces untouched.
func (w *revWorld) runToCanaryGate(params []string) string {
	t := w.h.t
	t.Helper()
	r := w.h.mustCairn(0, append([]string{"run", w.playbook}, params...)...)
	run := runIDOf(t, r)
	want := append([]map[string]string{{"istio.io/rev": w.spec.newRev}}, w.spec.appLabels[1:]...)
	w.assertInjectionLabels(want)
	w.waitApps(w.apps[:1], w.spec.newVersion, w.spec.newRev)
	w.waitApps(w.apps[1:], w.spec.oldVersion, w.spec.oldRev)
	w.h.waitProxyTags(w.istioNS, w.spec.newVersion, 30*time.Second)
	w.assertControlPlane(w.spec.oldRev, true, revCoreKinds...)
	w.assertControlPlane(w.spec.newRev, true, revAllCPKinds...)
	return run
}

// finish approves both gates and resumes to the end.
func (w *revWorld) finish(run string) {
	w.h.mustCairn(0, "approve", run, "canary-ok")
	w.h.mustCairn(0, "resume", run)
	// Paused at the final gate: every namespace moved, old control plane kept.
	w.assertInjectionLabels(w.newLabels())
	w.assertControlPlane(w.spec.oldRev, true, revCoreKinds...)
	w.h.mustCairn(0, "approve", run, "ready-to-finish")
	w.h.mustCairn(0, "resume", run)
}

// assertOneRestart checks that every app Deployment and the gateway changed
// their pod template exactly once: two ReplicaSets each.
func (w *revWorld) assertOneRestart() {
	t := w.h.t
	t.Helper()
	for _, ns := range w.apps {
		for dep, n := range w.h.replicaSets(ns) {
			if n != 2 {
				t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
			}
		}
	}
	if n := w.h.replicaSets(w.istioNS)["istio-ingressgateway"]; n != 2 {
		t.Errorf("gateway has %d ReplicaSets, want 2 (one in-place upgrade)", n)
	}
	if n := w.h.fakeCalls("install", "revision="+w.spec.newRev); n != 1 {
		t.Errorf("istioctl install of %s ran %d times, want 1", w.spec.newRev, n)
	}
}

// Seed 000: revisioned asm-173-6 -> asm-183-2, to completion.
func TestAsmRevisionUpgradeFromRevision(t *testing.T) {
	w := newRevWorld(t, revFrom173)
	run := w.runToCanaryGate(w.params())
	w.finish(run)
	w.assertAfter()
	w.assertOneRestart()
	// The other namespaces, one at a time and in the order given.
	got := w.h.assertItemByItem(run, "rest-relabel", "rest-verify-labels", "rest-restart", "rest-status", "rest-verify")
	if want := w.apps[1:]; !slices.Equal(got, want) {
		t.Errorf("the other namespaces ran in the order %v, want %v", got, want)
	}
	if n := w.h.fakeCalls("-f"); n != 0 {
		t.Errorf("install got -f without an overlay (%d calls)", n)
	}
	// The old control plane is gone and no old files were kept: rollback
	// refuses before it moves any namespace back onto nothing.
	w.h.assertPastNoReturn(run, "ready-to-finish", "delete-old-control-plane")
	w.assertInjectionLabels(w.newLabels())
	w.assertControlPlane(w.spec.newRev, true, revAllCPKinds...)
}

// Seed 000's example: a plain istiod, namespaces on istio-injection=enabled
// and istio.io/rev=default; rollback at the canary gate.
func TestAsmRevisionRollbackAtCanaryGate(t *testing.T) {
	w := newRevWorld(t, revFromPlain173)
	run := w.runToCanaryGate(w.params())
	w.h.mustCairn(0, "rollback", run)
	w.assertBefore()
	// The gateway went back with rollout undo, not with a reinstall.
	if n := w.h.fakeCalls("install"); n != 1 {
		t.Errorf("istioctl install ran %d times, want 1 (no reinstall without oldInstallDir)", n)
	}
}

// Seed 001: plain 1.5 -> 1.6.14 with an overlay and the cluster-admin
// binding, to completion; then, with the old control plane gone, rollback
// reinstalls 1.5 from the kept files and moves every namespace back.
func TestAsmRevisionFrom15FinishThenRollback(t *testing.T) {
	w := newRevWorld(t, revFrom15)
	overlay := filepath.Join(w.h.dir, "overlay.yaml")
	if err := os.WriteFile(overlay, []byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    accessLogFile: /dev/stdout\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	params := withParam(w.params(), "overlay", overlay)
	params = withParam(params, "oldInstallDir", w.oldDir)
	params = withParam(params, "clusterAdminUser", "e2e-admin@example.com")
	run := w.runToCanaryGate(params)
	w.finish(run)
	w.assertAfter()
	w.assertOneRestart()
	if n := w.h.fakeCalls("install", "-f", overlay); n != 1 {
		t.Errorf("install with -f %s ran %d times, want 1", overlay, n)
	}
	crb, err := w.h.env.Clientset.RbacV1().ClusterRoleBindings().Get(bg(t), "cluster-admin-binding", metav1.GetOptions{})
	if err != nil || crb.RoleRef.Name != "cluster-admin" || len(crb.Subjects) != 1 || crb.Subjects[0].Name != "e2e-admin@example.com" {
		t.Errorf("cluster-admin-binding: %v %+v", err, crb)
	}

	w.h.mustCairn(0, "rollback", run)
	w.assertBefore()
	// 1.5 has no install: the kept release is reinstalled with manifest apply.
	if n := w.h.fakeCalls(filepath.Join(w.oldDir, "bin", "istioctl"), "manifest", "apply"); n < 1 {
		t.Errorf("the old release was not reinstalled from %s", w.oldDir)
	}
	// Workloads are restarted only once the old control plane is back;
	// before that the injector would reject their pods.
	undone := map[string]int{}
	for i, ev := range w.h.events(run) {
		if ev["type"] == "undo.succeeded" {
			if _, ok := undone[fmt.Sprint(ev["step"])]; !ok {
				undone[fmt.Sprint(ev["step"])] = i
			}
		}
	}
	reinstall, ok := undone["finish-reinstall-rollback-point"]
	for _, step := range []string{"canary-restart-rollback-point", "rest-restart-rollback-point"} {
		if at, done := undone[step]; !ok || !done || at < reinstall {
			t.Errorf("undo of %s at event %d (done %v), reinstall at %d (done %v): the reinstall must come first", step, at, done, reinstall, ok)
		}
	}
}

// Seed 001's "roll back to 1.5" before the finish: the 1.5 release is
// reinstalled from the kept files instead of `rollout undo` of the gateway.
func TestAsmRevisionFrom15RollbackAtCanaryGate(t *testing.T) {
	w := newRevWorld(t, revFrom15)
	run := w.runToCanaryGate(withParam(w.params(), "oldInstallDir", w.oldDir))
	w.h.mustCairn(0, "rollback", run)
	w.assertBefore()
	if n := w.h.fakeCalls(filepath.Join(w.oldDir, "bin", "istioctl"), "manifest", "apply"); n != 1 {
		t.Errorf("the old release was reinstalled %d times, want 1", n)
	}
}

// TestAsmRevisionPreflightRefusals: each refusal fails the run with its
// message before anything is installed.
func TestAsmRevisionPreflightRefusals(t *testing.T) {
	w := newRevWorld(t, revFrom173)
	h := w.h
	cases := []struct {
		name, want string
		params     []string
		setup      func() func()
	}{
		{name: "jump-of-three-minors", want: "at most two minor versions",
			params: withParam(withParam(w.params(), "newVersion", "1.10.3-asm.1"), "newRev", "asm-1103-1")},
		{name: "1.4-to-1.6", want: "upgrade to 1.5 first",
			params: withParam(withParam(w.params(), "oldVersion", "1.4.10-asm.3"), "newVersion", "1.6.14-asm.2")},
		{name: "1.8-from-1.7.2", want: "1.8 is supported only from 1.7.3+",
			params: withParam(w.params(), "oldVersion", "1.7.2-asm.1")},
		{name: "canary-repeated", want: "lists the canary namespace",
			params: withParam(w.params(), "namespaces", w.apps[1]+","+w.apps[0])},
		{name: "old-version-differs", want: "old-istiod-revision",
			params: withParam(w.params(), "oldVersion", "1.7.4-asm.1")},
		{name: "old-revision-missing", want: "istiod-asm-173-9",
			params: withParam(w.params(), "oldRev", "asm-173-9")},
		{name: "both-injection-labels", want: w.apps[1], params: w.params(), setup: func() func() {
			w.setNSLabel(w.apps[1], "istio-injection", "enabled")
			return func() { w.setNSLabel(w.apps[1], "istio-injection", "") }
		}},
		{name: "new-revision-present", want: "new-revision-absent", params: w.params(), setup: func() func() {
			_, err := h.toolErr(filepath.Join("istio-"+w.spec.oldVersion, "bin", "istioctl"), "install", "--set", "values.global.istioNamespace="+w.istioNS,
				"--set", "profile=minimal", "--set", "revision="+w.spec.newRev, "-y")
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				h.tool("istioctl", "uninstall", "--istioNamespace", w.istioNS, "--revision", w.spec.newRev, "-y")
			}
		}},
		{name: "istioctl-version-differs", want: "the unpacked istioctl is not newVersion",
			params: withParam(w.params(), "packageUrl", w.makePackage("wrong-client", w.spec.newVersion, "1.8.2-asm.1"))},
		{name: "tampered-package", want: "verify-signature", params: withParam(w.params(), "packageUrl", w.tamperedPackage())},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				defer c.setup()()
			}
			params := withParam(c.params, "workDir", filepath.Join(h.dir, fmt.Sprintf("work-%d", i)))
			r := h.cairn(nil, append([]string{"run", w.playbook}, params...)...)
			out := r.stdout + r.stderr
			if i := strings.LastIndex(out, "cairn: "); i >= 0 {
				t.Log(strings.TrimSpace(out[i:])) // the message a user sees
			}
			if r.code == 0 || !containsFold(out, c.want) {
				t.Errorf("exit %d, want a failure naming %q\n%s", r.code, c.want, out)
			}
			if n := h.fakeCalls("install", "revision="+w.spec.newRev); n != 0 {
				t.Errorf("istioctl install ran %d times", n)
			}
			if c.name != "new-revision-present" {
				w.assertControlPlane(w.spec.newRev, false, revAllCPKinds...)
			}
		})
	}
	w.assertInjectionLabels(w.spec.appLabels)
	w.assertControlPlane(w.spec.oldRev, true, revCoreKinds...)
}

// TestAsmRevisionCrashes kills cairn after every K-th journal commit
// (K=4 and K=5 together hit every kind of transition, see
// TestIstioCanaryTagsCrashes), resuming and approving both gates, then
// expects the state of an uninterrupted run with every effect exactly once.
func TestAsmRevisionCrashes(t *testing.T) {
	for _, k := range crashEvery {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newRevWorld(t, revFrom173)
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "canary-ok", "ready-to-finish")
			w.assertAfter()
			w.assertOneRestart()
			w.h.assertNoRerun(run)
		})
	}
}
